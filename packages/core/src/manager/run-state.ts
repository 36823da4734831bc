/**
 * Whether the node is running, shared by the connection manager's parts: a
 * dial, an inbound connection or a gate decision after `stop()` began must
 * not add a connection.
 */
export class RunState {
  running = false
}
