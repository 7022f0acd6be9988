// Loads @prisma/schema-engine-wasm by hand: its entry point imports the .wasm
// file as an ES module, which Node 20 cannot do without a flag.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

import type * as WasmEngine from '@prisma/schema-engine-wasm'

export type SchemaEngineWasm = WasmEngine.SchemaEngine
type Bindings = typeof WasmEngine & { __wbg_set_wasm(exports: WebAssembly.Exports): void }

let loaded: Bindings | undefined

/** The Wasm engine reports a Rust panic's message here just before it traps. */
export const panicRegistry = {
  message: '',
  set_message(message: string) {
    this.message = message
  },
}
;(globalThis as { PRISMA_WASM_PANIC_REGISTRY?: typeof panicRegistry }).PRISMA_WASM_PANIC_REGISTRY = panicRegistry

export async function loadWasmEngine(): Promise<Bindings> {
  if (loaded) return loaded
  const require = createRequire(import.meta.url)
  const dir = dirname(require.resolve('@prisma/schema-engine-wasm'))
  const bindings = (await import('@prisma/schema-engine-wasm/schema_engine_bg')) as unknown as Bindings
  const module = new WebAssembly.Module(readFileSync(join(dir, 'schema_engine_bg.wasm')))
  const instance = new WebAssembly.Instance(module, { './schema_engine_bg.js': bindings as unknown as WebAssembly.ModuleImports })
  bindings.__wbg_set_wasm(instance.exports)
  ;(instance.exports.__wbindgen_start as (() => void) | undefined)?.()
  loaded = bindings
  return bindings
}
