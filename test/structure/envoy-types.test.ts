// src/envoy/envoy-types.ts is generated from Envoy's protos; it must say what the protos say today.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ENVOY_TYPES_FILE, formattedEnvoyTypes } from '../../tools/generate-envoy-types.js';

test('envoy-types.ts is what the generator makes of the protos (else: npm run generate:envoy-types)', async () => {
  assert.equal(readFileSync(ENVOY_TYPES_FILE, 'utf8'), await formattedEnvoyTypes());
});

test('the generated shapes are those the xDS client decodes', () => {
  const text = readFileSync(ENVOY_TYPES_FILE, 'utf8');
  // keepCase field names, enums as their names, Struct values as protobufjs's built-in proto names them.
  assert.match(text, /export interface Cluster \{[^}]*\n {2}connect_timeout\?: Duration;/);
  assert.match(text, /\n {2}lb_policy\?: LbPolicy;/);
  assert.match(text, /export type LbPolicy =[^;]*'ROUND_ROBIN'[^;]*'LEAST_REQUEST'/);
  assert.match(text, /\n {2}stringValue\?: string;/);
  assert.match(text, /\nexport type \w+ = Record<string, never>;/, 'a message without fields');
});
