// The bench's results: rows as measured, written to .bench/latest.{json,md} (and a
// timestamped copy) and printed as the markdown table the README shows.
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import type { DatasetSize } from './dataset.ts'

export interface Row {
  op: string
  path: string
  metric: 'rows/s' | 'statuses/s' | 'claims/s' | 'p50 ms' | 'p99 ms' | 'wall ms' | 'longest wait ms'
  value: number
  p99?: number
  /** The limit this path is compared with (raw SQL, or the same statements with user triggers off). */
  raw?: number
  rawP99?: number
  /** value/raw, oriented so that the target is a bound: throughput >= 0.8, latency <= 1.2, migrations <= 0.3. */
  ratio?: number
  target?: string
  ok?: boolean
  note?: string
}

export interface Machine {
  cpus: number
  cpuModel: string
  memoryGiB: number
  postgres: string
  node: string
  platform: string
  loadAverage: string
}

export function machine(postgres: string): Machine {
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    postgres,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAverage: os.loadavg().map((l) => l.toFixed(1)).join(' '),
  }
}

/** Adds a throughput (higher is better) or latency (lower is better) row with its ratio to the limit. */
export function compare(rows: Row[], r: Omit<Row, 'ratio' | 'ok'>, bound: { atLeast?: number; atMost?: number }): void {
  const ratio = r.raw === undefined || !Number.isFinite(r.raw) || r.raw === 0 ? undefined : r.value / r.raw
  const ok = ratio === undefined ? undefined : bound.atLeast !== undefined ? ratio >= bound.atLeast : bound.atMost !== undefined ? ratio <= bound.atMost : undefined
  const target = r.target ?? (bound.atLeast !== undefined ? `>= ${bound.atLeast}x` : bound.atMost !== undefined ? `<= ${bound.atMost}x` : '')
  rows.push({ ...r, ratio, ok, target })
}

function fmt(v: number | undefined, metric: Row['metric']): string {
  if (v === undefined || !Number.isFinite(v)) return '-'
  if (metric === 'rows/s' || metric === 'statuses/s' || metric === 'claims/s') return Math.round(v).toLocaleString('en-US')
  if (metric === 'wall ms' || metric === 'longest wait ms') return v.toFixed(0)
  return v.toFixed(3)
}

export interface Report {
  startedAt: string
  finishedAt: string
  scale: number
  size: DatasetSize
  iterations: number
  duration: number
  machine: Machine
  results: Row[]
}

export function markdown(r: Report): string {
  const m = r.machine
  const lines = [
    `Machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB RAM, PostgreSQL ${m.postgres}, Node ${m.node}, ${m.platform}; load average at the end ${m.loadAverage}`,
    `Dataset: scale ${r.scale} (${Object.entries(r.size).map(([k, v]) => `${v} ${k}`).join(', ')}); latency: ${r.iterations} iterations after 20 warm-up; concurrent runs: ${r.duration} s each; run ${r.startedAt}`,
    '',
    '| Operation | Path | Metric | Value | p99 ms | Limit | Limit p99 ms | Ratio | Target | Met | Note |',
    '|---|---|---|---:|---:|---:|---:|---:|---|---|---|',
  ]
  for (const x of r.results) {
    lines.push(
      `| ${x.op} | ${x.path} | ${x.metric} | ${fmt(x.value, x.metric)} | ${x.p99 === undefined ? '' : x.p99.toFixed(3)} | ${fmt(x.raw, x.metric)} | ${x.rawP99 === undefined ? '' : x.rawP99.toFixed(3)} | ${x.ratio === undefined || !Number.isFinite(x.ratio) ? '-' : `${x.ratio.toFixed(2)}x`} | ${x.target ?? ''} | ${x.ok === undefined ? '' : x.ok ? 'yes' : 'no'} | ${x.note ?? ''} |`,
    )
  }
  return `${lines.join('\n')}\n`
}

/** Writes .bench/latest.{json,md} and run-<stamp>.{json,md}; returns the stamp. */
export function writeReport(dir: string, report: Report): string {
  mkdirSync(dir, { recursive: true })
  const stamp = report.startedAt.replace(/[:.]/g, '-')
  const json = JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)
  const md = markdown(report)
  for (const name of ['latest', `run-${stamp}`]) {
    writeFileSync(path.join(dir, `${name}.json`), `${json}\n`)
    writeFileSync(path.join(dir, `${name}.md`), md)
  }
  return stamp
}
