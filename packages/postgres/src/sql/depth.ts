import type { Statement } from '../database.js'
import type { Names } from '../schema.js'

export interface DepthRow {
  pending: string
  dead: string
}

/** The backlog for gauges: two counts over partial indexes (unfinished events, dead letters), never the done ones. */
export function countDepth(n: Names): Statement {
  const t = n.qualified
  return {
    text: `SELECT (SELECT count(*) FROM ${t} WHERE status IN ('pending', 'running')) AS pending,
                  (SELECT count(*) FROM ${t} WHERE status = 'dead') AS dead`,
    values: [],
  }
}
