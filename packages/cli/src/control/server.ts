/**
 * The control socket a running `crust start` serves, so `crust peers`,
 * `crust ping` and `crust send` can act through it.
 *
 * @packageDocumentation
 */
import { chmod, mkdir, rm } from 'node:fs/promises'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { dirname } from 'node:path'
import { CliError, ExitCode, FailureError, FileTransferError, jsonError, messageOf } from '../errors.js'
import type { NodeOperations, SendFileOperationOptions } from '../node/operations.js'
import { readLines, writeLine } from './lines.js'
import { type ControlRequest, controlRequestSchema, type NodeStatus } from './protocol.js'

/** What the server answers with. */
export interface ControlHandlers {
  readonly operations: NodeOperations
  status(): NodeStatus
}

/** A listening control socket. */
export class ControlServer {
  private readonly sockets = new Set<Socket>()
  private readonly aborts = new Set<AbortController>()

  private constructor(
    /** The socket path. */
    readonly path: string,
    private readonly server: Server,
  ) {}

  /**
   * Listen on `path` (mode 0600, in a directory created with mode 0700). A
   * stale socket left by a crashed node is replaced.
   *
   * @throws FailureError when another node is serving the path, or it cannot be created.
   */
  static async listen(path: string, handlers: ControlHandlers): Promise<ControlServer> {
    if (process.platform !== 'win32') {
      if (Buffer.byteLength(path) > 100) throw new FailureError(`control socket path too long for a unix socket (${path}); pass a shorter --control`)
      await mkdir(dirname(path), { recursive: true, mode: 0o700 })
      if (await answers(path)) throw new FailureError(`another crust node is serving ${path}; stop it or pass --control <other path>`)
      await rm(path, { force: true })
    }
    const server = createServer()
    const control = new ControlServer(path, server)
    server.on('connection', (socket) => control.serve(socket, handlers))
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new FailureError(`cannot create control socket ${path}: ${error.message}`)))
      server.listen(path, resolve)
    })
    if (process.platform !== 'win32') await chmod(path, 0o600)
    return control
  }

  /** Stop serving: cancel requests in progress, close clients, remove the socket file. */
  async close(): Promise<void> {
    for (const controller of this.aborts) controller.abort()
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
    if (process.platform !== 'win32') await rm(this.path, { force: true })
  }

  private serve(socket: Socket, handlers: ControlHandlers): void {
    this.sockets.add(socket)
    const controller = new AbortController()
    this.aborts.add(controller)
    socket.on('error', () => {})
    socket.on('close', () => {
      this.sockets.delete(socket)
      this.aborts.delete(controller)
      controller.abort()
    })
    readLines(socket, (line) => {
      let json: unknown
      try {
        json = JSON.parse(line)
      } catch {
        writeLine(socket, { id: 0, ok: false, error: { message: 'request is not JSON', exitCode: ExitCode.USAGE } })
        return
      }
      const parsed = controlRequestSchema.safeParse(json)
      if (!parsed.success) {
        const requestId = typeof (json as { id?: unknown })?.id === 'number' ? (json as { id: number }).id : 0
        const message = `bad request: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ')}`
        writeLine(socket, { id: requestId, ok: false, error: { message, exitCode: ExitCode.USAGE } })
        return
      }
      void this.answer(socket, parsed.data, handlers, controller.signal)
    })
  }

  private async answer(socket: Socket, request: ControlRequest, handlers: ControlHandlers, signal: AbortSignal): Promise<void> {
    const { operations } = handlers
    let lastProgress = Number.NEGATIVE_INFINITY
    try {
      const result = await run(request, handlers, operations, signal, {
        // At most ten progress lines a second (and the last), however small the chunks.
        onProgress: (sent, total) => {
          const now = performance.now()
          if (sent < total && now - lastProgress < 100) return
          lastProgress = now
          writeLine(socket, { id: request.id, progress: { sent, total } })
        },
        onRetry: (retry) => writeLine(socket, { id: request.id, retry: { ...retry } }),
      })
      writeLine(socket, { id: request.id, ok: true, result })
    } catch (error) {
      const exitCode = error instanceof CliError ? error.exitCode : ExitCode.FAILURE
      const reason = error instanceof FileTransferError ? { reason: error.reason } : {}
      writeLine(socket, { id: request.id, ok: false, error: { message: messageOf(error), exitCode, code: jsonError(error).error.code, ...reason } })
    }
  }
}

function run(
  request: ControlRequest,
  handlers: ControlHandlers,
  operations: NodeOperations,
  signal: AbortSignal,
  file: Pick<SendFileOperationOptions, 'onProgress' | 'onRetry'>,
): Promise<unknown> {
  switch (request.op) {
    case 'status':
      return Promise.resolve(handlers.status())
    case 'peers':
      return operations.peers()
    case 'ping':
      return operations.ping(request.target, { signal })
    case 'send-text':
      return operations.sendText(request.target, request.text, { signal })
    case 'send-file':
      return operations.sendFile(request.target, request.path, {
        signal,
        ...file,
        ...(request.name === undefined ? {} : { name: request.name }),
        ...(request.retries === undefined ? {} : { retries: request.retries }),
      })
  }
}

/** True when something accepts connections on the socket at `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
