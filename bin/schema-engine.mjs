#!/usr/bin/env node
// Stand-in for Prisma's native `schema-engine` binary: prisma.config.ts points
// PRISMA_SCHEMA_ENGINE_BINARY here, so the unmodified CLI runs Prisma's own
// engine compiled to WebAssembly (@prisma/schema-engine-wasm) and never
// downloads a native binary. Plain JS so it starts without a build step.
import { register } from 'tsx/esm/api'

register()
await import('../src/engine/main.ts')
