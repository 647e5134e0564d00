import { orderByDependencies } from './fk-graph.util.js';

const graph = (edges: Record<string, string[]>): Map<string, string[]> => new Map(Object.entries(edges));

describe('orderByDependencies', () => {
  it('returns nothing for an empty graph', () => {
    expect(orderByDependencies([], new Map())).toEqual({ order: [], cycles: [] });
  });

  it('orders independent nodes by name and ignores duplicates', () => {
    expect(orderByDependencies(['c', 'a', 'b', 'a'], new Map())).toEqual({
      order: ['a', 'b', 'c'],
      cycles: [],
    });
  });

  it('puts parents before children along a chain', () => {
    const result = orderByDependencies(['a', 'b', 'c'], graph({ a: ['b'], b: ['c'] }));
    expect(result).toEqual({ order: ['c', 'b', 'a'], cycles: [] });
  });

  it('orders a diamond with the smallest ready name first', () => {
    const result = orderByDependencies(
      ['top', 'left', 'right', 'base'],
      graph({ left: ['top'], right: ['top'], base: ['left', 'right'] }),
    );
    expect(result.order).toEqual(['top', 'left', 'right', 'base']);
  });

  it('prefers the smallest ready node even when a later one became ready first', () => {
    // z has no parents and is ready at once; b becomes ready only after a, yet b < z.
    const result = orderByDependencies(['a', 'b', 'z'], graph({ b: ['a'] }));
    expect(result.order).toEqual(['a', 'b', 'z']);
  });

  it('ignores self-loops: a self-referencing node is not a cycle', () => {
    expect(orderByDependencies(['cat', 'b'], graph({ cat: ['cat'] }))).toEqual({
      order: ['b', 'cat'],
      cycles: [],
    });
  });

  it('ignores edges that name unknown nodes', () => {
    expect(orderByDependencies(['a'], graph({ a: ['ghost'], ghost: ['a'] }))).toEqual({
      order: ['a'],
      cycles: [],
    });
  });

  it('reports a two-node cycle as one sorted group placed after its parents', () => {
    const result = orderByDependencies(
      ['teams', 'team_members', 'users'],
      graph({ teams: ['team_members', 'users'], team_members: ['teams'] }),
    );
    expect(result).toEqual({
      order: ['users', 'team_members', 'teams'],
      cycles: [['team_members', 'teams']],
    });
  });

  it('keeps children of a cycle after it and orders components by their smallest member', () => {
    const result = orderByDependencies(
      ['x', 'y', 'b', 'c', 'a'],
      graph({ x: ['y'], y: ['x'], b: ['c'], c: ['b'], a: ['x', 'b'] }),
    );
    expect(result.order).toEqual(['b', 'c', 'x', 'y', 'a']);
    expect(result.cycles).toEqual([
      ['b', 'c'],
      ['x', 'y'],
    ]);
  });

  it('groups a longer cycle and its attached nodes', () => {
    const result = orderByDependencies(
      ['d', 'c', 'b', 'a', 'e'],
      graph({ a: ['b'], b: ['c'], c: ['a'], d: ['c'], e: [] }),
    );
    expect(result).toEqual({ order: ['a', 'b', 'c', 'd', 'e'], cycles: [['a', 'b', 'c']] });
  });

  it('gives the same answer whatever the input order', () => {
    const nodes = ['n5', 'n1', 'n4', 'n2', 'n3', 'n0'];
    const edges = { n1: ['n0', 'n2'], n2: ['n1'], n3: ['n2'], n4: ['n5'], n5: ['n4', 'n0'] };
    const expected = orderByDependencies(nodes, graph(edges));
    const reversedEdges = new Map(
      Object.entries(edges)
        .reverse()
        .map(([k, v]) => [k, [...v].reverse()]),
    );
    expect(orderByDependencies([...nodes].reverse(), reversedEdges)).toEqual(expected);
    expect(expected).toEqual({
      order: ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'],
      cycles: [
        ['n1', 'n2'],
        ['n4', 'n5'],
      ],
    });
  });

  it('handles a long chain without reordering', () => {
    const nodes = Array.from({ length: 500 }, (_, i) => `t${String(i).padStart(3, '0')}`);
    const edges = new Map(nodes.slice(1).map((n, i) => [n, [nodes[i]]]));
    expect(orderByDependencies([...nodes].reverse(), edges).order).toEqual(nodes);
  });
});
