// Which pod gets the next request, by containerConcurrency as Knative's activator chooses:
// 0 → the less busy of two random pods; 1–3 → the first pod with a free slot; > 3 → round robin
// over pods with a free slot. A policy never picks a pod already at its concurrency.

export interface PodSlot {
  inFlight: number;
  /** containerConcurrency of the revision; 0 = unlimited. */
  capacity: number;
}

const hasRoom = (p: PodSlot) => p.capacity === 0 || p.inFlight < p.capacity;

export type Picker<T extends PodSlot> = (pods: readonly T[]) => T | undefined;

export function randomChoiceOfTwo<T extends PodSlot>(random: () => number = Math.random): Picker<T> {
  return (pods) => {
    if (pods.length === 0) return undefined;
    if (pods.length === 1) return pods[0];
    const a = Math.floor(random() * pods.length);
    let b = Math.floor(random() * (pods.length - 1));
    if (b >= a) b++;
    return pods[a]!.inFlight <= pods[b]!.inFlight ? pods[a] : pods[b];
  };
}

export function firstAvailable<T extends PodSlot>(): Picker<T> {
  return (pods) => pods.find(hasRoom);
}

export function roundRobin<T extends PodSlot>(): Picker<T> {
  let next = 0;
  return (pods) => {
    for (let i = 0; i < pods.length; i++) {
      const at = (next + i) % pods.length;
      if (hasRoom(pods[at]!)) {
        next = at + 1;
        return pods[at];
      }
    }
    return undefined;
  };
}

export function policyFor<T extends PodSlot>(containerConcurrency: number, random?: () => number): Picker<T> {
  if (containerConcurrency === 0) return randomChoiceOfTwo<T>(random);
  if (containerConcurrency <= 3) return firstAvailable<T>();
  return roundRobin<T>();
}
