// Drives a go-control-plane server given by path (GO_CONTROL_PLANE_BIN) for a same-run comparison.
// The project cannot build one (its Go modules are not packaged), so the binary is an outside
// harness with this contract (docs/xds.md, "Beside go-control-plane"):
//   $BIN -port 0 -snapshot DIR
// DIR holds 0.pb, 1.pb, …: each one encoded DiscoveryResponse (type_url and its resources as Any),
// in push order. It serves them as one SnapshotCache snapshot over ADS to every node, and prints
// `ready <port>` once listening.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { envoyRoot, typeForUrl } from '../../src/envoy/protos.js';
import type { EnvoyResources } from '../../src/envoy/resource.js';
import { KINDS } from '../../src/translate/roles.js';

export interface ExternalXdsServer {
  port: number;
  stop(): void;
}

/** A snapshot: per type, in push order, its resources' encoded bytes. */
export type EncodedSnapshot = Array<[typeUrl: string, resources: Uint8Array[]]>;

/** `resources` encoded with Envoy's protos, types without resources left out. */
export function encodeSnapshot(resources: EnvoyResources): EncodedSnapshot {
  return KINDS.filter(([kind]) => resources[kind].length > 0).map(([kind, typeUrl]) => {
    const type = typeForUrl(typeUrl);
    return [typeUrl, resources[kind].map((r) => type.encode(type.fromObject(r)).finish())];
  });
}

function writeSnapshot(snapshot: EncodedSnapshot): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-gcp-snapshot-'));
  const response = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryResponse');
  snapshot.forEach(([typeUrl, resources], index) => {
    const message = {
      version_info: '1',
      type_url: typeUrl,
      resources: resources.map((value) => ({ type_url: typeUrl, value })),
    };
    writeFileSync(path.join(dir, `${index}.pb`), response.encode(response.fromObject(message)).finish());
  });
  return dir;
}

export async function startGoControlPlane(bin: string, snapshot: EncodedSnapshot): Promise<ExternalXdsServer> {
  const dir = writeSnapshot(snapshot);
  const child: ChildProcess = spawn(bin, ['-port', '0', '-snapshot', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = () => {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`${bin} exited (${code}) before it printed "ready <port>"`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const ready = /^ready (\d+)$/.exec(line.trim());
        if (ready) resolve(Number(ready[1]));
      });
    });
    return { port, stop };
  } catch (err) {
    stop();
    throw err;
  }
}
