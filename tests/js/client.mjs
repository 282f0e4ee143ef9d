// Drive the official supabase-js Realtime client through one scenario and report what it sees.
//
// Usage: node tests/js/client.mjs '<scenario JSON>'   (or the JSON on stdin, or '-' for stdin)
//
// Every line on stdout is one JSON object:
//   {"status": "STARTED", "vsn": ..., "supabase_js": ...}   once the scenario is parsed
//   {"type": "endpoint", "client", "path", "vsn"}            per client, from its websocket URL
//   {"channel_status": "SUBSCRIBED", "client": name}        per channel (also CHANNEL_ERROR, ...)
//   {"status": "SUBSCRIBED"}                                 once every channel is subscribed
//   {"type": "postgres_changes" | "system" | "broadcast" | "presence" | "send" | ..., ...}
//   {"type": "wire", "client", "dir": "in" | "out", "text" | "binary_hex"}   when "trace" is set
//   {"status": "DONE"} and exit 0, or {"status": "TIMEOUT" | "FAILED", ...} and exit 2 / 3.
// Diagnostics go to stderr. The process always ends by itself: "timeout_ms" bounds the run.
//
// Scenario keys: url, key, kind ("postgres_changes" | "broadcast" | "presence"), and optionally
// vsn ("2.0.0" or "1.0.0"; the client's default when absent), topic, timeout_ms, push_timeout_ms,
// trace (print every websocket frame), debug (realtime-js's own log on stderr).
//   postgres_changes: schema, table, event ("*"), filter, count (messages before DONE)
//   broadcast: config ({broadcast: {self, ack}}), event ("ping"), payload ({n: 1}),
//              binary_payload_hex (send an ArrayBuffer instead of JSON)
//   presence: presence_key ("alice"), state ({user: "alice"}), observer (true), untrack (true)
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'

const require = createRequire(import.meta.url)
const SUPABASE_JS_VERSION = require('@supabase/supabase-js/package.json').version

const out = (line) => process.stdout.write(JSON.stringify(line, jsonBytes) + '\n')
const note = (...args) => process.stderr.write(args.map(String).join(' ') + '\n')

// ArrayBuffer payloads (binary broadcasts) become {"$binary_hex": "..."} on stdout.
function jsonBytes(_key, value) {
  if (value instanceof ArrayBuffer) {
    return { $binary_hex: Buffer.from(value).toString('hex') }
  }
  if (ArrayBuffer.isView(value)) {
    return {
      $binary_hex: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex'),
    }
  }
  return value
}

function readScenario() {
  const arg = process.argv[2]
  const text = arg === undefined || arg === '-' ? readFileSync(0, 'utf8') : arg
  return JSON.parse(text)
}

// A ws WebSocket that reports every frame; realtime-js only ever calls `new transport(url)`.
function tracingTransport(name) {
  return class TracingWebSocket extends WebSocket {
    constructor(...args) {
      super(...args)
      this.on('message', (data, isBinary) => out(wireLine(name, 'in', data, isBinary)))
    }

    send(data, ...rest) {
      out(wireLine(name, 'out', data, typeof data !== 'string'))
      return super.send(data, ...rest)
    }
  }
}

function wireLine(client, dir, data, isBinary) {
  const bytes = Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data)
  return isBinary
    ? { type: 'wire', client, dir, binary_hex: bytes.toString('hex') }
    : { type: 'wire', client, dir, text: bytes.toString('utf8') }
}

const scenario = readScenario()
// Without "vsn" the client's own default applies (2.0.0 in realtime-js 2.99.3; a test checks it).
const vsn = scenario.vsn
const clients = []
let finished = false

async function finish(code, line) {
  if (finished) return
  finished = true
  out(line)
  clearTimeout(deadline)
  // Leave politely, but never let a silent server keep the process alive.
  const leave = Promise.allSettled(clients.map((c) => c.removeAllChannels()))
  await Promise.race([leave, new Promise((resolve) => setTimeout(resolve, 1000))])
  process.exit(code)
}

const deadline = setTimeout(
  () => finish(2, { status: 'TIMEOUT', after_ms: scenario.timeout_ms ?? 15000 }),
  scenario.timeout_ms ?? 15000
)
process.on('uncaughtException', (err) => finish(3, { status: 'FAILED', error: String(err) }))
process.on('unhandledRejection', (err) => finish(3, { status: 'FAILED', error: String(err) }))

function makeClient(name) {
  const client = createClient(scenario.url, scenario.key, {
    realtime: {
      transport: scenario.trace ? tracingTransport(name) : WebSocket,
      ...(vsn ? { vsn } : {}),
      timeout: scenario.push_timeout_ms ?? 5000,
      logger: scenario.debug
        ? (kind, msg, data) => note(name, kind, msg, JSON.stringify(data))
        : undefined,
    },
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  })
  clients.push(client)
  // What the client will put in the websocket URL: vsn decides the serializer on both ends.
  const endpoint = new URL(client.realtime.endpointURL())
  out({
    type: 'endpoint',
    client: name,
    path: endpoint.pathname,
    vsn: endpoint.searchParams.get('vsn'),
  })
  return client
}

// Resolves once the channel is SUBSCRIBED; any other status ends the run.
function subscribe(channel, name) {
  return new Promise((resolve) => {
    channel.subscribe((status, err) => {
      if (finished) return
      out({
        channel_status: status,
        client: name,
        ...(err ? { error: String(err.message ?? err) } : {}),
      })
      if (status === 'SUBSCRIBED') resolve()
      else finish(3, { status: 'FAILED', client: name, channel_status: status })
    })
  })
}

// Lines that other steps wait for: `seen(pred)` resolves on the first matching line.
const log = []
const waiters = []
function emit(line) {
  out(line)
  log.push(line)
  for (const w of waiters.filter((w) => w.pred(line))) {
    waiters.splice(waiters.indexOf(w), 1)
    w.resolve(line)
  }
}
function seen(pred) {
  const hit = log.find(pred)
  return hit ? Promise.resolve(hit) : new Promise((resolve) => waiters.push({ pred, resolve }))
}

async function postgresChanges() {
  const count = scenario.count ?? 1
  const filter = {
    event: scenario.event ?? '*',
    schema: scenario.schema ?? 'public',
    table: scenario.table ?? 'emergency_requests',
    ...(scenario.filter ? { filter: scenario.filter } : {}),
  }
  let received = 0
  const channel = makeClient('main')
    .channel(scenario.topic ?? 'rtdata-js-pg')
    .on('system', {}, (payload) => emit({ type: 'system', payload }))
    .on('postgres_changes', filter, (payload) => {
      emit({ type: 'postgres_changes', payload })
      if (++received >= count) finish(0, { status: 'DONE' })
    })
  await subscribe(channel, 'main')
  out({ status: 'SUBSCRIBED' })
}

async function broadcast() {
  const topic = scenario.topic ?? 'rtdata-js-broadcast'
  const config = scenario.config ?? { broadcast: { self: false, ack: false } }
  const event = scenario.event ?? 'ping'
  const selfSend = Boolean(config.broadcast?.self)
  const payload = scenario.binary_payload_hex
    ? new Uint8Array(Buffer.from(scenario.binary_payload_hex, 'hex')).buffer
    : (scenario.payload ?? { n: 1 })

  // The receiver answers every ping with a pong, so the sender knows its ping went round; with
  // self: false, a ping echoed to the sender would have arrived before that pong.
  const receiver = makeClient('receiver').channel(topic, { config })
  receiver.on('broadcast', { event }, async (msg) => {
    emit({ type: 'broadcast', client: 'receiver', payload: msg })
    const result = await receiver.send({ type: 'broadcast', event: 'pong', payload: { to: event } })
    emit({ type: 'send', client: 'receiver', event: 'pong', result })
  })
  const sender = makeClient('sender').channel(topic, { config })
  sender.on('broadcast', { event }, (msg) =>
    emit({ type: 'broadcast', client: 'sender', payload: msg })
  )
  sender.on('broadcast', { event: 'pong' }, (msg) =>
    emit({ type: 'broadcast', client: 'sender', payload: msg })
  )

  await Promise.all([subscribe(receiver, 'receiver'), subscribe(sender, 'sender')])
  out({ status: 'SUBSCRIBED' })
  const result = await sender.send({ type: 'broadcast', event, payload })
  emit({ type: 'send', client: 'sender', event, result })
  const waits = [
    seen((l) => l.type === 'broadcast' && l.client === 'sender' && l.payload.event === 'pong'),
    seen((l) => l.type === 'send' && l.client === 'receiver'),
  ]
  if (selfSend) {
    waits.push(
      seen((l) => l.type === 'broadcast' && l.client === 'sender' && l.payload.event === event)
    )
  }
  await Promise.all(waits)
  finish(0, { status: 'DONE' })
}

async function presence() {
  const topic = scenario.topic ?? 'rtdata-js-presence'
  const key = scenario.presence_key ?? 'alice'
  const state = scenario.state ?? { user: 'alice' }
  const withObserver = scenario.observer ?? true
  const watch = (channel, name) =>
    channel
      .on('presence', { event: 'sync' }, () =>
        emit({ type: 'presence', client: name, event: 'sync', state: channel.presenceState() })
      )
      .on('presence', { event: 'join' }, ({ key, newPresences, currentPresences }) =>
        emit({ type: 'presence', client: name, event: 'join', key, newPresences, currentPresences })
      )
      .on('presence', { event: 'leave' }, ({ key, leftPresences, currentPresences }) =>
        emit({
          type: 'presence',
          client: name,
          event: 'leave',
          key,
          leftPresences,
          currentPresences,
        })
      )

  const tracker = watch(
    makeClient('tracker').channel(topic, { config: { presence: { key } } }),
    'tracker'
  )
  const channels = [subscribe(tracker, 'tracker')]
  let watcher = 'tracker'
  if (withObserver) {
    const observer = watch(
      makeClient('observer').channel(topic, { config: { presence: { key: 'observer' } } }),
      'observer'
    )
    channels.push(subscribe(observer, 'observer'))
    watcher = 'observer'
  }
  await Promise.all(channels)
  out({ status: 'SUBSCRIBED' })

  emit({ type: 'track', client: 'tracker', result: await tracker.track(state) })
  await seen(
    (l) => l.type === 'presence' && l.client === watcher && l.event === 'join' && l.key === key
  )
  if (scenario.untrack ?? true) {
    emit({ type: 'untrack', client: 'tracker', result: await tracker.untrack() })
    await seen(
      (l) => l.type === 'presence' && l.client === watcher && l.event === 'leave' && l.key === key
    )
  }
  finish(0, { status: 'DONE' })
}

const scenarios = { postgres_changes: postgresChanges, broadcast, presence }
out({ status: 'STARTED', kind: scenario.kind, vsn: vsn ?? null, supabase_js: SUPABASE_JS_VERSION })
if (!(scenario.kind in scenarios)) {
  finish(3, { status: 'FAILED', error: `unknown scenario kind ${JSON.stringify(scenario.kind)}` })
} else {
  scenarios[scenario.kind]().catch((err) => finish(3, { status: 'FAILED', error: String(err) }))
}
