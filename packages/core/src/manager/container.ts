/**
 * Registers the connection manager's parts in a node's container: one
 * instance of each per node (`ContainerScoped`), unless the container
 * already holds a provider for that token, so a test or an advanced user can
 * replace one part without forking the core.
 */
import { type DependencyContainer, type InjectionToken, Lifecycle } from 'tsyringe'
import { Tokens } from '../di/tokens.js'
import { Acceptor } from './acceptor.js'
import { Admission } from './admission.js'
import { ConnectionManager } from './connection-manager.js'
import { Dialer } from './dialer.js'
import { Establisher } from './establisher.js'
import { KeepAlive } from './keep-alive.js'
import { PeerKeeper } from './peer-keeper.js'
import { PeerMessenger } from './peer-messenger.js'
import { PeerPresence } from './peer-presence.js'
import { PeerReports } from './peer-reports.js'
import { ProtocolUpdates } from './protocol-updates.js'
import { Registrar } from './registrar.js'
import { RunState } from './run-state.js'
import { TransportHost } from './transport-host.js'
import { Traversal } from './traversal.js'

type Constructor = new (...args: never[]) => unknown

const PARTS: ReadonlyArray<readonly [InjectionToken, Constructor]> = [
  [Tokens.RunState, RunState],
  [Tokens.PeerReports, PeerReports],
  [Tokens.Admission, Admission],
  [Tokens.TransportHost, TransportHost],
  [Tokens.Registrar, Registrar],
  [Tokens.ProtocolUpdates, ProtocolUpdates],
  [Tokens.PeerPresence, PeerPresence],
  [Tokens.KeepAlive, KeepAlive],
  [Tokens.Establisher, Establisher],
  [Tokens.Traversal, Traversal],
  [Tokens.Dialer, Dialer],
  [Tokens.Acceptor, Acceptor],
  [Tokens.PeerKeeper, PeerKeeper],
  [Tokens.PeerMessenger, PeerMessenger],
  [Tokens.ConnectionManager, ConnectionManager],
]

/** Register every part not already provided in `scope` (searching its parents too). */
export function registerManagerParts(scope: DependencyContainer): void {
  for (const [token, part] of PARTS) {
    if (scope.isRegistered(token, true)) continue
    scope.register(token, { useClass: part as never }, { lifecycle: Lifecycle.ContainerScoped })
  }
}
