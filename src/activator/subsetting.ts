// How N activators share a revision's pods (Knative's pod-direct subsetting): pods sorted by
// address are cut into N equal slices; when they don't divide evenly, the leftover pods at the end
// go one each to the first activators. Fewer pods than activators: activator i takes pod i mod P.

export interface SliceBounds {
  begin: number;
  end: number;
  remnants: number;
}

export function pickIndices(pods: number, selfIndex: number, activators: number): SliceBounds {
  if (activators > pods) {
    const begin = selfIndex % pods;
    return { begin, end: begin + 1, remnants: 0 };
  }
  const size = Math.floor(pods / activators);
  const begin = selfIndex * size;
  return { begin, end: begin + size, remnants: pods % activators };
}

/** The pods this activator sends traffic to; `sortedPods` must be sorted by address. */
export function assignSlice<T>(sortedPods: readonly T[], selfIndex: number, activators: number): T[] {
  // Not yet among the activators' endpoints, a single activator, or nothing to split: take all.
  if (selfIndex === -1 || sortedPods.length <= 1 || activators === 1) return [...sortedPods];
  const { begin, end, remnants } = pickIndices(sortedPods.length, selfIndex, activators);
  const slice = sortedPods.slice(begin, end);
  if (remnants > 0) {
    const tail = sortedPods.slice(sortedPods.length - remnants);
    if (selfIndex < tail.length) slice.push(tail[selfIndex]!);
  }
  return slice;
}

/** How many requests this activator may have in flight to the revision: CC × its pods (0 → unlimited). */
export function revisionCapacity(containerConcurrency: number, assignedPods: number): number {
  if (assignedPods === 0) return 0;
  return containerConcurrency === 0 ? Infinity : containerConcurrency * assignedPods;
}
