/** The line-delimited JSON protocol between a test and a node running in a lab namespace. */

/** A transport to give the lab node. */
export interface LabTransport {
  readonly kind: 'tcp' | 'quic'
  readonly options?: Record<string, unknown>
}

/** A discovery plugin to give the lab node (e.g. `{ kind: 'beacon', options: { autoConnect: true } }`). */
export interface LabDiscovery {
  readonly kind: 'beacon'
  readonly options?: Record<string, unknown>
}

/**
 * A service plugin to give the lab node: `kind` names a factory exported by
 * `from` (default `@crust/nat`: e.g. `upnp`, `stun`, `holePunch`, `relay`;
 * `@crust/discovery-rendezvous`: `rendezvous`), called with `options`.
 */
export interface LabService {
  readonly kind: string
  readonly from?: '@crust/nat' | '@crust/discovery-rendezvous'
  readonly options?: Record<string, unknown>
}

/** Parameters of the `start` call: JSON-safe node config plus transports and discovery plugins. */
export interface StartParams {
  readonly config: Record<string, unknown>
  readonly transports: readonly LabTransport[]
  readonly discovery?: readonly LabDiscovery[]
  readonly services?: readonly LabService[]
}

export interface Request {
  readonly id: number
  readonly method: string
  readonly params: unknown
}

export type Reply =
  | { readonly id: number; readonly result: unknown }
  | { readonly id: number; readonly error: { readonly name: string; readonly code?: string; readonly message: string } }

export interface EventLine {
  readonly event: string
  readonly payload: unknown
}
