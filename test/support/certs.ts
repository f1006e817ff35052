// Throwaway certificates for TLS tests, made with the openssl command at test time (EC P-256,
// valid for a day): a CA, certificates it signs with the SANs asked for, and a stranger CA.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
}

export class TestCa {
  readonly dir: string;
  readonly cert: string;
  private readonly key: string;
  private serial = 1;

  constructor(
    readonly name = 'gatehouse-test-ca',
    dir?: string,
  ) {
    this.dir = dir ?? mkdtempSync(path.join(tmpdir(), 'gatehouse-certs-'));
    this.cert = path.join(this.dir, `${name}.crt`);
    this.key = path.join(this.dir, `${name}.key`);
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      this.key,
      '-out',
      this.cert,
      '-subj',
      `/CN=${name}`,
      '-days',
      '1',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  }

  /** A leaf certificate for server and client use, e.g. issue('envoy-1', ['DNS:envoy-1']). */
  issue(name: string, sans: string[]): CertFiles {
    const base = path.join(this.dir, `${this.name}-${name}`);
    const ext = `${base}.ext`;
    const altNames = sans.length > 0 ? `subjectAltName=${sans.join(',')}\n` : '';
    writeFileSync(
      ext,
      `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n${altNames}`,
    );
    openssl([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${base}.key`,
      '-out',
      `${base}.csr`,
      '-subj',
      `/CN=${name}`,
    ]);
    openssl([
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      this.cert,
      '-CAkey',
      this.key,
      '-set_serial',
      String(this.serial++),
      '-out',
      `${base}.crt`,
      '-days',
      '1',
      '-extfile',
      ext,
    ]);
    return { cert: `${base}.crt`, key: `${base}.key` };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
