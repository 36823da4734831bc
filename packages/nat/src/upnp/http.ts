import { type IncomingMessage, request } from 'node:http'
import { UpnpError } from './errors.js'

/** An HTTP answer from the gateway. */
export interface HttpAnswer {
  readonly status: number
  readonly body: string
}

/** Options of {@link httpRequest}. */
export interface HttpRequestOptions {
  readonly method: 'GET' | 'POST'
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
  /** Deadline for the whole exchange (connect, send, read), ms. */
  readonly timeout: number
  readonly signal?: AbortSignal
  /** Larger answers are refused (a gateway's description or SOAP answer is a few KiB). */
  readonly maxBytes?: number
}

const DEFAULT_MAX_BYTES = 256 * 1024

/**
 * One HTTP/1.1 exchange with a gateway, bounded in time and size, on its own
 * socket (`Connection: close`, no agent), as UPnP control points do. Every
 * failure is a {@link UpnpError}; the socket is destroyed on any outcome, so
 * nothing lingers after a timeout or an abort.
 */
export function httpRequest(url: URL, options: HttpRequestOptions): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new UpnpError('aborted', 'stopped'))
      return
    }
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
    const headers: Record<string, string> = { Connection: 'close', ...options.headers }
    if (options.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(options.body))
    const req = request(url, { method: options.method, headers, agent: false })
    let settled = false
    const finish = (error: UpnpError | undefined, answer?: HttpAnswer): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      req.destroy()
      if (error !== undefined) reject(error)
      else if (answer !== undefined) resolve(answer)
    }
    const onAbort = (): void => finish(new UpnpError('aborted', 'stopped'))
    const timer = setTimeout(
      () => finish(new UpnpError('timeout', `the gateway at ${url.host} did not answer ${options.method} ${url.pathname} within ${options.timeout} ms`)),
      options.timeout,
    )
    options.signal?.addEventListener('abort', onAbort, { once: true })
    let answering = false
    req.on('error', (error: NodeJS.ErrnoException) => {
      const detail = error.code ?? error.message
      finish(
        answering
          ? new UpnpError('malformed', `the gateway's answer to ${url.pathname} broke off: ${detail}`, { cause: error })
          : new UpnpError('unreachable', `cannot reach the gateway at ${url.host}: ${detail}`, { cause: error }),
      )
    })
    req.on('response', (res: IncomingMessage) => {
      answering = true
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > maxBytes) finish(new UpnpError('malformed', `the gateway's answer to ${url.pathname} is larger than ${maxBytes} bytes`))
        else chunks.push(chunk)
      })
      const brokeOff = (): UpnpError => new UpnpError('malformed', `the gateway's answer to ${url.pathname} broke off`)
      res.on('error', () => finish(brokeOff()))
      res.on('close', () => {
        if (!res.complete) finish(brokeOff())
      })
      res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
    })
    req.end(options.body)
  })
}
