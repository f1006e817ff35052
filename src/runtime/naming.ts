// Pod names shaped like Knative's: `<revision>-deployment-<template hash>-<suffix>`.
import { createHash } from 'node:crypto';
import type { RevisionSpec } from '../model/desired.js';

const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function templateHash(spec: RevisionSpec): string {
  return createHash('sha256').update(JSON.stringify(spec.container)).digest('hex').slice(0, 10);
}

export function podName(spec: RevisionSpec, random: () => number = Math.random): string {
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += ALPHABET[Math.floor(random() * ALPHABET.length)];
  return `${spec.name}-deployment-${templateHash(spec)}-${suffix}`;
}

/** Which pods to stop when scaling down: unready ones first, then the newest. */
export function scaleDownVictims<T extends { ready: boolean; startedAt: number }>(
  pods: readonly T[],
  count: number,
): T[] {
  return [...pods]
    .sort((a, b) => Number(a.ready) - Number(b.ready) || b.startedAt - a.startedAt)
    .slice(0, Math.max(0, count));
}
