/**
 * The client side of the control socket: the operations of a running
 * `crust start`, over JSON lines.
 *
 * @packageDocumentation
 */
import { connect, type Socket } from 'node:net'
import type { z } from 'zod'
import { CliError, FailureError, FileTransferError } from '../errors.js'
import type { RetryInfo, SentFile } from '../files/sender.js'
import type { DeliveredText, NodeOperations, OperationOptions, PingResult, SendFileOperationOptions } from '../node/operations.js'
import type { PeerRow } from '../node/peer-rows.js'
import { readLines, writeLine } from './lines.js'
import { type ControlRequest, controlAnswerSchema, type NodeStatus, resultSchemas } from './protocol.js'

/** No node serves the control socket (nothing there, or a stale file). */
export class NoNodeError extends FailureError {
  constructor(readonly path: string) {
    super(`no crust node is running at ${path} (start one with crust start, or pass --control <path>)`)
  }
}

type Pending = {
  readonly resolve: (value: unknown) => void
  readonly reject: (error: Error) => void
  readonly onProgress?: (sent: number, total: number) => void
  readonly onRetry?: (retry: RetryInfo) => void
}

/** Requests to a running node through its control socket. */
export class ControlClient implements NodeOperations {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private closedError: Error | undefined

  private constructor(
    /** The socket path. */
    readonly path: string,
    private readonly socket: Socket,
  ) {
    readLines(socket, (line) => this.onLine(line))
    socket.on('error', () => {})
    socket.on('close', () => this.fail(new FailureError(`the node at ${path} closed the control socket`)))
  }

  /**
   * Connect to the node serving `path`.
   *
   * @throws NoNodeError when none does.
   */
  static connect(path: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path)
      socket.once('connect', () => resolve(new ControlClient(path, socket)))
      socket.once('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED' || error.code === 'ENOTSOCK') reject(new NoNodeError(path))
        else reject(new FailureError(`cannot open control socket ${path}: ${error.message}`))
      })
    })
  }

  async status(): Promise<NodeStatus> {
    return this.call({ op: 'status' }, resultSchemas.status)
  }

  async peers(): Promise<PeerRow[]> {
    return this.call({ op: 'peers' }, resultSchemas.peers)
  }

  ping(target: string, options: OperationOptions = {}): Promise<PingResult> {
    return this.call({ op: 'ping', target }, resultSchemas.ping, options)
  }

  sendText(target: string, text: string, options: OperationOptions = {}): Promise<DeliveredText> {
    return this.call({ op: 'send-text', target, text }, resultSchemas['send-text'], options)
  }

  sendFile(target: string, path: string, options: SendFileOperationOptions = {}): Promise<SentFile> {
    const extra = { ...(options.name === undefined ? {} : { name: options.name }), ...(options.retries === undefined ? {} : { retries: options.retries }) }
    return this.call({ op: 'send-file', target, path, ...extra }, resultSchemas['send-file'], options)
  }

  async close(): Promise<void> {
    this.socket.end()
    this.socket.destroy()
  }

  private call<S extends z.ZodType>(
    request: DistributiveOmit<ControlRequest, 'id'>,
    schema: S,
    options: SendFileOperationOptions = {},
  ): Promise<z.infer<S>> {
    if (this.closedError) return Promise.reject(this.closedError)
    const id = this.nextId++
    return new Promise<z.infer<S>>((resolve, reject) => {
      const onAbort = (): void => {
        this.pending.delete(id)
        reject(new CliError('interrupted', 130))
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      const settle = (): void => options.signal?.removeEventListener('abort', onAbort)
      this.pending.set(id, {
        resolve: (value) => {
          settle()
          const parsed = schema.safeParse(value)
          if (parsed.success) resolve(parsed.data)
          else reject(new FailureError(`the node answered ${request.op} with something unexpected`))
        },
        reject: (error) => {
          settle()
          reject(error)
        },
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.onRetry ? { onRetry: options.onRetry } : {}),
      })
      writeLine(this.socket, { id, ...request })
    })
  }

  private onLine(line: string): void {
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch {
      return
    }
    const parsed = controlAnswerSchema.safeParse(json)
    if (!parsed.success) return
    const answer = parsed.data
    const pending = this.pending.get(answer.id)
    if (pending === undefined) return
    if ('progress' in answer) {
      pending.onProgress?.(answer.progress.sent, answer.progress.total)
      return
    }
    if ('retry' in answer) {
      pending.onRetry?.(answer.retry)
      return
    }
    this.pending.delete(answer.id)
    if (answer.ok) pending.resolve(answer.result)
    else if (answer.error.reason !== undefined) pending.reject(new FileTransferError(answer.error.reason, answer.error.message))
    else pending.reject(new CliError(answer.error.message, answer.error.exitCode, answer.error.code === undefined ? {} : { code: answer.error.code }))
  }

  private fail(error: Error): void {
    this.closedError = error
    for (const pending of this.pending.values()) pending.reject(error)
    this.pending.clear()
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
