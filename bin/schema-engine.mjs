#!/usr/bin/env node
// Stand-in for Prisma's native `schema-engine` binary: prisma.config.ts points
// PRISMA_SCHEMA_ENGINE_BINARY here, so the unmodified CLI runs Prisma's own
// engine compiled to WebAssembly (@prisma/schema-engine-wasm) and never
// downloads a native binary. Runs the bundle when fresh, else the source
// (see bin/launch.mjs); never prints debug lines, stdout is JSON-RPC.
import { launch } from './launch.mjs'

await launch('schema-engine', 'src/engine/main.ts', { debugLines: false })
