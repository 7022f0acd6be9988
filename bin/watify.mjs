#!/usr/bin/env node
// Launcher of the database CLI (`npm run migrate`, `node bin/watify.mjs migrate`):
// the bundle when fresh, else the TypeScript source (see bin/launch.mjs).
import { launch } from './launch.mjs'

await launch('cli', 'src/cli/main.ts')
