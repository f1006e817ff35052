// WebSocket echo and gRPC echo through the gateway, at the same time.
//   k6 run -e WS_SERVICE=hello -e GRPC_SERVICE=grpc bench/k6/websocket-grpc.js
// The gRPC service must declare `ports: [{name: h2c}]` (examples/services.yaml has one) and be
// in serve mode: the activator passes HTTP/1.1 only for now.
import { check } from 'k6';
import grpc from 'k6/net/grpc';
import ws from 'k6/ws';
import { BASE_URL, hostOf, summary } from './lib.js';

const wsHost = hostOf(__ENV.WS_SERVICE || 'hello', __ENV.NAMESPACE);
const grpcHost = hostOf(__ENV.GRPC_SERVICE || 'grpc', __ENV.NAMESPACE);
const client = new grpc.Client();
client.load([], 'echo.proto');

// gRPC routes by :authority, which k6 takes from the target: resolve the service's host to the
// gateway's address instead.
const gatewayAddress = BASE_URL.replace(/^https?:\/\//, '');
const gatewayIp = gatewayAddress.split(':')[0];
const gatewayPort = gatewayAddress.split(':')[1] || '80';
const hosts = {};
hosts[grpcHost] = gatewayIp;

export const options = {
  hosts: hosts,
  scenarios: {
    websocket: {
      executor: 'constant-vus',
      vus: Number(__ENV.WS_VUS || 10),
      duration: __ENV.DURATION || '30s',
      exec: 'websocket',
    },
    grpc: {
      executor: 'constant-vus',
      vus: Number(__ENV.GRPC_VUS || 10),
      duration: __ENV.DURATION || '30s',
      exec: 'grpcEcho',
    },
  },
  thresholds: {
    checks: ['rate==1'],
    ws_connecting: ['p(95)<' + (__ENV.P95_MS || 100)],
    grpc_req_duration: ['p(95)<' + (__ENV.P95_MS || 100)],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

export function websocket() {
  const url = BASE_URL.replace(/^http/, 'ws') + '/ws';
  const res = ws.connect(url, { headers: { Host: wsHost } }, function (socket) {
    let echoed = 0;
    socket.on('open', function () {
      socket.send('ping 0');
    });
    socket.on('message', function (message) {
      check(message, { 'websocket echo': (m) => m === 'ping ' + echoed });
      echoed++;
      if (echoed === 10) socket.close();
      else socket.send('ping ' + echoed);
    });
    socket.setTimeout(function () {
      socket.close();
    }, 5000);
  });
  check(res, { 'websocket upgraded': (r) => r && r.status === 101 });
}

export function grpcEcho() {
  let res = null;
  try {
    if (__ITER === 0) client.connect(grpcHost + ':' + gatewayPort, { plaintext: true, timeout: '5s' });
    res = client.invoke('gatehouse.example.Echo/Echo', { data: 'aGVsbG8=' });
  } catch (err) {
    console.error('gRPC call failed: ' + err);
  }
  check(res, { 'grpc OK': (r) => r !== null && r.status === grpc.StatusOK && r.message.data === 'aGVsbG8=' });
}

export const handleSummary = summary('websocket-grpc');
