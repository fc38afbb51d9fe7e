import type { DependencyLink, Endpoint, Span, SpanKind } from './span.js';

/**
 * Service dependency links from traces, with the semantics of Zipkin's dependency linker: each
 * trace is cleaned up (pieces of one span merged, a missing `shared` flag restored), made into a
 * tree (a shared server span under its client, orphans under the root), and walked:
 *
 * - a SERVER or CONSUMER span is a call from its nearest ancestor that has a kind (when that
 *   ancestor names a local service), else from its own remote service, into its local service;
 * - a CLIENT span with children is skipped (its child, the server side, says more), a leaf CLIENT
 *   or PRODUCER span is a call from its local service to its remote service; a span without a
 *   kind is a client when it names both services;
 * - PRODUCER and CONSUMER spans link only when they name both sides (the broker is the remote);
 * - a call is an error when its span has an `error` tag (or, for a server span, when the client
 *   span it is a child of has one);
 * - a client span whose nearest remote ancestor is another service also counts a call from that
 *   service into the client's (Zipkin's repair of a missing link), never as an error.
 *
 * Calls of a service to itself are links like any other. The result is sorted by parent, then
 * child; `errorCount` is present only when non-zero.
 */
export function linkDependencies(traces: Iterable<readonly Span[]>): DependencyLink[] {
  const links = new Map<string, DependencyLink>();
  const add = (parent: string, child: string, error: boolean) => {
    const key = `${parent}\u0000${child}`;
    let link = links.get(key);
    if (!link) links.set(key, (link = { parent, child, callCount: 0 }));
    link.callCount++;
    if (error) link.errorCount = (link.errorCount ?? 0) + 1;
  };
  for (const trace of traces) {
    if (trace.length > 0) linkTrace(trace, add);
  }
  return [...links.values()].sort(
    (a, b) => compare(a.parent, b.parent) || compare(a.child, b.child),
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What linking needs of a span, after merging the pieces of one span. */
interface Part {
  id: string;
  parentId: string | undefined;
  kind: SpanKind | undefined;
  shared: boolean;
  local: Endpoint | undefined;
  remote: Endpoint | undefined;
  error: boolean;
}

interface TreeNode {
  part: Part | undefined;
  parent: TreeNode | undefined;
  children: TreeNode[];
}

function toPart(span: Span): Part {
  return {
    id: span.id,
    parentId: span.parentId,
    kind: span.kind,
    shared: span.shared === true,
    local: span.localEndpoint,
    remote: span.remoteEndpoint,
    error: span.tags !== undefined && Object.prototype.hasOwnProperty.call(span.tags, 'error'),
  };
}

function nullsLast(a: string | undefined, b: string | undefined): number {
  if (a === undefined) return b === undefined ? 0 : 1;
  if (b === undefined) return -1;
  return compare(a, b);
}

/** Zipkin's clean-up order: by id, then unshared before shared and clients first, then endpoint. */
function cleanupOrder(a: Part, b: Part): number {
  const byId = compare(a.id, b.id);
  if (byId !== 0) return byId;
  if (a.shared !== b.shared) return a.shared ? 1 : -1;
  if (!a.shared) {
    const ac = a.kind === 'CLIENT';
    const bc = b.kind === 'CLIENT';
    if (ac !== bc) return ac ? -1 : 1;
  }
  const l = a.local;
  const r = b.local;
  if (l === undefined) return r === undefined ? 0 : -1;
  if (r === undefined) return 1;
  return (
    nullsLast(l.serviceName, r.serviceName) ||
    nullsLast(l.ipv4, r.ipv4) ||
    nullsLast(l.ipv6, r.ipv6)
  );
}

/** Whether two endpoints can be pieces of the same one (no field conflicts). */
function mergeEndpoints(
  into: Endpoint | undefined,
  from: Endpoint | undefined,
): Endpoint | undefined | false {
  if (from === undefined) return into;
  if (into === undefined) return { ...from };
  for (const field of ['serviceName', 'ipv4', 'ipv6', 'port'] as const) {
    if (into[field] !== undefined && from[field] !== undefined && into[field] !== from[field]) {
      return false;
    }
  }
  return { ...from, ...stripUndefined(into) };
}

function stripUndefined(endpoint: Endpoint): Endpoint {
  const out: Endpoint = {};
  if (endpoint.serviceName !== undefined) out.serviceName = endpoint.serviceName;
  if (endpoint.ipv4 !== undefined) out.ipv4 = endpoint.ipv4;
  if (endpoint.ipv6 !== undefined) out.ipv6 = endpoint.ipv6;
  if (endpoint.port !== undefined) out.port = endpoint.port;
  return out;
}

/** Merges pieces of one span reported separately and restores a missing shared flag. */
function mergeTrace(spans: readonly Span[]): Part[] {
  const sorted = spans.map(toPart).sort(cleanupOrder);
  const out: Part[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const part = { ...sorted[i]! };
    let local = part.local;
    while (i + 1 < sorted.length) {
      const next = sorted[i + 1]!;
      if (next.id !== part.id || next.shared !== part.shared) break;
      const merged = mergeEndpoints(local, next.local);
      if (merged === false) break;
      local = merged;
      part.parentId ??= next.parentId;
      part.kind ??= next.kind;
      if (next.remote !== undefined) {
        const remote = mergeEndpoints(part.remote, next.remote);
        part.remote = remote === false ? part.remote : remote;
      }
      part.error ||= next.error;
      i++;
    }
    part.local = local;
    const last = out[out.length - 1];
    if (last !== undefined && last.id === part.id) {
      if (last.kind === 'CLIENT' && part.kind === 'SERVER' && !part.shared) part.shared = true;
      if (part.shared && part.parentId === undefined) part.parentId = last.parentId;
    }
    out.push(part);
  }
  return out;
}

function endpointKey(endpoint: Endpoint | undefined): string {
  if (endpoint === undefined) return '';
  return JSON.stringify([endpoint.serviceName, endpoint.ipv4, endpoint.ipv6, endpoint.port]);
}

/** Unshared spans are known by id; shared (server) spans by id and endpoint. */
function nodeKey(id: string, shared: boolean, endpoint: Endpoint | undefined): string {
  return shared ? `${id}/${endpointKey(endpoint)}` : id;
}

/** The trace tree; a synthetic root (no part) when the trace has no root span. */
function buildTree(parts: readonly Part[]): TreeNode {
  const childToParent = new Map<string, string | undefined>();
  for (const part of parts) {
    if (part.shared) childToParent.set(nodeKey(part.id, true, part.local), part.id);
    else childToParent.set(part.id, part.parentId);
  }
  const byKey = new Map<string, TreeNode>();
  let root: TreeNode | undefined;
  for (const part of parts) {
    const key = nodeKey(part.id, part.shared, part.local);
    const bareKey = part.local !== undefined ? nodeKey(part.id, part.shared, undefined) : key;
    let parent: string | undefined;
    if (part.shared) {
      // A server sharing its client's id is the child of that client.
      parent = part.id;
    } else if (part.parentId !== undefined) {
      // A local span under a shared server span of the same endpoint is that server's child.
      const sharedParent = nodeKey(part.parentId, true, part.local);
      if (childToParent.has(sharedParent)) {
        childToParent.set(bareKey, sharedParent);
        parent = sharedParent;
      } else {
        parent = part.parentId;
      }
    }
    const node: TreeNode = { part, parent: undefined, children: [] };
    if (parent === undefined && root === undefined) {
      root = node;
      childToParent.delete(bareKey);
    } else if (part.shared) {
      byKey.set(key, node);
      byKey.set(bareKey, node);
    } else {
      byKey.set(bareKey, node);
    }
  }
  const top: TreeNode = root ?? { part: undefined, parent: undefined, children: [] };
  for (const [childKey, parentKey] of childToParent) {
    const child = byKey.get(childKey);
    if (child === undefined) continue;
    const parent = (parentKey !== undefined ? byKey.get(parentKey) : undefined) ?? top;
    if (parent === child) continue;
    parent.children.push(child);
    child.parent = parent;
  }
  return top;
}

function firstRemoteAncestor(node: TreeNode): Part | undefined {
  for (let up = node.parent; up !== undefined; up = up.parent) {
    if (up.part?.kind !== undefined) return up.part;
  }
  return undefined;
}

function linkTrace(
  spans: readonly Span[],
  add: (parent: string, child: string, error: boolean) => void,
): void {
  const top = buildTree(mergeTrace(spans));
  // Breadth-first from the root, or from the root-most spans under a synthetic root.
  const queue: TreeNode[] = top.part !== undefined ? [top] : [...top.children];
  const seen = new Set<TreeNode>();
  for (let q = 0; q < queue.length; q++) {
    const node = queue[q]!;
    if (seen.has(node)) continue;
    seen.add(node);
    queue.push(...node.children);
    const part = node.part!;
    let kind = part.kind;
    // A client that has children: the server side below it says more.
    if (kind === 'CLIENT' && node.children.length > 0) continue;
    const local = part.local?.serviceName;
    const remote = part.remote?.serviceName;
    if (kind === undefined) {
      if (local === undefined || remote === undefined) continue;
      kind = 'CLIENT';
    }
    let parent: string | undefined;
    let child: string | undefined;
    if (kind === 'SERVER' || kind === 'CONSUMER') {
      parent = remote;
      child = local;
      if (node === top && parent === undefined) continue;
    } else {
      parent = local;
      child = remote;
    }
    let error = part.error;
    if (kind === 'PRODUCER' || kind === 'CONSUMER') {
      if (parent !== undefined && child !== undefined) add(parent, child, error);
      continue;
    }
    const ancestor = firstRemoteAncestor(node);
    const ancestorService = ancestor?.local?.serviceName;
    if (ancestor !== undefined && ancestorService !== undefined) {
      if (kind === 'CLIENT' && local !== undefined && ancestorService !== local) {
        add(ancestorService, local, false);
      }
      if (kind === 'SERVER' || parent === undefined) parent = ancestorService;
      if (
        !error &&
        ancestor.kind === 'CLIENT' &&
        part.parentId !== undefined &&
        part.parentId === ancestor.id
      ) {
        error = ancestor.error;
      }
    }
    if (parent === undefined || child === undefined) continue;
    add(parent, child, error);
  }
}
