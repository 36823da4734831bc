/**
 * Where the CLI keeps things by default: the data directory (key, bootstrap
 * cache, inbox) and the control socket.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'
import { dirname, join, resolve } from 'node:path'

/** The platform data directory the core keeps its bootstrap cache under (e.g. `~/.local/share/crust`). */
export async function defaultDataDir(): Promise<string> {
  // The core owns the platform lookup (env-paths); its cache lives in <data>/bootstrap/<file>.
  // Imported lazily: `crust peers` with an explicit socket never loads the core.
  const { defaultCachePath } = await import('@crust/core')
  return dirname(dirname(defaultCachePath('0'.repeat(64))))
}

/** The data directory: `--data-dir` resolved against `cwd`, or the platform default. */
export async function dataDir(flag: string | undefined, cwd: string): Promise<string> {
  return flag === undefined ? defaultDataDir() : resolve(cwd, flag)
}

/** Options that choose the control socket. */
export interface ControlPathOptions {
  /** `--control`, as given. */
  readonly control?: string
  /** `--data-dir`, as given. */
  readonly dataDir?: string
  readonly cwd: string
  readonly env: Readonly<Record<string, string | undefined>>
}

/**
 * The control socket of a node: `--control`; else `control.sock` in an
 * explicit `--data-dir`; else `$XDG_RUNTIME_DIR/crust/control.sock`; else
 * `control.sock` in the platform data directory. On Windows the path is
 * turned into a named pipe.
 */
export async function controlPath(options: ControlPathOptions): Promise<string> {
  let path: string
  if (options.control !== undefined) path = resolve(options.cwd, options.control)
  else if (options.dataDir !== undefined) path = join(resolve(options.cwd, options.dataDir), 'control.sock')
  else if (options.env.XDG_RUNTIME_DIR) path = join(options.env.XDG_RUNTIME_DIR, 'crust', 'control.sock')
  else path = join(await defaultDataDir(), 'control.sock')
  return process.platform === 'win32' ? windowsPipe(path) : path
}

function windowsPipe(path: string): string {
  if (path.startsWith('\\\\.\\pipe\\')) return path
  return `\\\\.\\pipe\\crust-${createHash('sha256').update(path).digest('hex').slice(0, 16)}`
}
