// A real gRPC backend answering /gatehouse.example.Echo/Echo with its own name, and a raw client call.
import * as grpc from '@grpc/grpc-js';

const ECHO_PATH = '/gatehouse.example.Echo/Echo';
const bytes = (b: Buffer) => b;

export async function startNamedBackend(name: string): Promise<{ port: number; stop(): Promise<void> }> {
  const server = new grpc.Server();
  server.addService(
    {
      Echo: {
        path: ECHO_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: bytes,
        requestDeserialize: bytes,
        responseSerialize: bytes,
        responseDeserialize: bytes,
      },
    },
    {
      Echo: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
        callback(null, Buffer.from(name)),
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { port, stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

export function echo(client: grpc.Client, deadlineMs = 5000): Promise<string> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      ECHO_PATH,
      bytes,
      bytes,
      Buffer.from('hi'),
      { deadline: Date.now() + deadlineMs },
      (err, value) => (err ? reject(err) : resolve(String(value))),
    ),
  );
}
