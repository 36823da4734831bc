import type { z } from 'zod'

/** One problem in a configuration: the dotted path of the field and what is wrong. */
export interface Issue {
  readonly path: string
  readonly message: string
}

/** zod issues as {@link Issue}s under `prefix`; unknown keys are named one by one. */
export function zodIssues(error: z.ZodError, prefix: string): Issue[] {
  return error.issues.flatMap((issue) => {
    const base = [prefix, ...issue.path.map(String)].filter((p) => p !== '')
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ path: [...base, key].join('.'), message: 'Unknown option' }))
    return [{ path: base.join('.'), message: issue.message }]
  })
}

/** `a.b: message; c: message` */
export function formatIssues(issues: readonly Issue[]): string {
  return issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ')
}
