/** Tables ordered by their foreign-key dependencies; see {@link orderByDependencies}. */
export interface DependencyOrder {
  /** Every node once, parents before children; the members of a cycle are adjacent and sorted. */
  order: string[];
  /** Strongly connected components with more than one member, each sorted, in `order` order. */
  cycles: string[][];
}

/**
 * Orders nodes so that every parent comes before its children, tolerating cycles.
 *
 * Runs Tarjan's strongly-connected-components algorithm over the nodes sorted by name, then Kahn's
 * algorithm over the condensation (the graph of components). The ready queue is ordered by each
 * component's smallest member and members inside a component are sorted, so the result depends only
 * on the graph, never on input order. Names compare by UTF-16 code units, not locale.
 *
 * @param nodes - The graph's nodes (duplicates are ignored).
 * @param parentsOf - For each child, the parents it depends on. Self-loops and edges naming an
 *   unknown node are ignored.
 * @returns The order and the cycles (components of two or more nodes; a self-loop is not a cycle).
 */
export function orderByDependencies(
  nodes: Iterable<string>,
  parentsOf: ReadonlyMap<string, Iterable<string>>,
): DependencyOrder {
  const sorted = [...new Set(nodes)].sort();
  const known = new Set(sorted);
  const adjacency = new Map<string, string[]>();
  for (const node of sorted) {
    const parents = new Set<string>();
    for (const parent of parentsOf.get(node) ?? []) {
      if (parent !== node && known.has(parent)) parents.add(parent);
    }
    adjacency.set(node, [...parents].sort());
  }

  const components = stronglyConnectedComponents(sorted, adjacency);
  const componentOf = new Map<string, number>();
  components.forEach((members, id) => members.forEach((m) => componentOf.set(m, id)));

  // Condensation edges run parent component → child component; a component is ready once all of
  // its parent components have been emitted.
  const children = components.map(() => new Set<number>());
  const pending = components.map(() => new Set<number>());
  for (const node of sorted) {
    const child = componentOf.get(node)!;
    for (const parent of adjacency.get(node)!) {
      const parentComponent = componentOf.get(parent)!;
      if (parentComponent === child) continue;
      children[parentComponent].add(child);
      pending[child].add(parentComponent);
    }
  }
  const remaining = pending.map((parents) => parents.size);
  const readyKey = (id: number): string => components[id][0];
  const ready: number[] = [];
  const enqueue = (id: number): void => {
    const key = readyKey(id);
    let at = ready.findIndex((other) => readyKey(other) > key);
    if (at < 0) at = ready.length;
    ready.splice(at, 0, id);
  };
  remaining.forEach((count, id) => {
    if (count === 0) enqueue(id);
  });

  const order: string[] = [];
  const cycles: string[][] = [];
  for (let id = ready.shift(); id !== undefined; id = ready.shift()) {
    const members = components[id];
    order.push(...members);
    if (members.length > 1) cycles.push([...members]);
    for (const child of children[id]) {
      remaining[child] -= 1;
      if (remaining[child] === 0) enqueue(child);
    }
  }
  return { order, cycles };
}

/** Tarjan's algorithm; each returned component is sorted. Recursion depth is bounded by the node count. */
function stronglyConnectedComponents(
  sorted: readonly string[],
  adjacency: ReadonlyMap<string, readonly string[]>,
): string[][] {
  let nextIndex = 0;
  const index = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];

  const visit = (node: string): void => {
    index.set(node, nextIndex);
    lowLink.set(node, nextIndex);
    nextIndex += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of adjacency.get(node)!) {
      if (!index.has(next)) {
        visit(next);
        lowLink.set(node, Math.min(lowLink.get(node)!, lowLink.get(next)!));
      } else if (onStack.has(next)) {
        lowLink.set(node, Math.min(lowLink.get(node)!, index.get(next)!));
      }
    }
    if (lowLink.get(node) !== index.get(node)) return;
    const members: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      members.push(member);
    } while (member !== node);
    components.push(members.sort());
  };

  for (const node of sorted) {
    if (!index.has(node)) visit(node);
  }
  return components;
}
