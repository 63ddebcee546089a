// A TCP proxy in front of the real Redis or PostgreSQL, so a test can make the service "stop"
// (every connection cut, new ones refused) and come back, without touching the shared server.
// It can also inject the network faults a client must survive: a reply lost after the server ran
// the command (the connection dies in between), and slow replies.
import { createServer, connect, type Server, type Socket } from 'node:net'

export interface TcpProxy {
  readonly port: number
  /** Cuts every open connection and refuses new ones, as a stopped server would. */
  stop(): Promise<void>
  /** Accepts connections again on the same port. */
  start(): Promise<void>
  /** Stops for good. */
  close(): Promise<void>
  /**
   * Loses the reply to the next command any client sends: the command is passed on, and when the
   * server's reply comes back (so the command has run), the reply is dropped and that connection is
   * destroyed on both sides. Arm it while the client is idle, or the reply dropped may be one to an
   * earlier command. With `stop: true` the proxy also stops at that moment (new connections
   * refused until `start()`), so a client that reconnects at once cannot re-send the command.
   * Resolves once the connection was cut.
   */
  loseNextReply(options?: { stop?: boolean }): Promise<void>
  /**
   * Cuts the connection that sends the next command, before the command reaches the server: the
   * server never runs it. Resolves once the connection was cut.
   */
  dropNextRequest(): Promise<void>
  /** Holds every reply (server to client) for `ms` before passing it on, in order; 0 to stop. */
  delayReplies(ms: number): void
}

interface ArmedCut {
  readonly stop: boolean
  readonly done: () => void
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  let replyDelayMs = 0
  /** Waiting for the next command of any connection. */
  let armed: ArmedCut | undefined
  /** Waiting for the next command of any connection, to drop it unsent. */
  let dropArmed: (() => void) | undefined

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(targetPort, targetHost)
        for (const socket of [client, upstream]) {
          sockets.add(socket)
          socket.on('close', () => sockets.delete(socket))
          socket.on('error', () => {
            client.destroy()
            upstream.destroy()
          })
        }
        // Set on this connection by its first command after loseNextReply(): its reply is the one lost.
        let cut: ArmedCut | undefined
        // Held replies, in arrival order, each with when it may go: one timer drains them front
        // first, so they keep the order the server sent them in (as TCP does), whatever delay
        // each was given. (A timer per reply would not: Node does not order timers of different
        // durations that come due at the same moment.)
        const held: { readonly at: number; readonly chunk: Buffer | undefined }[] = []
        let draining: ReturnType<typeof setTimeout> | undefined
        const drain = () => {
          draining = undefined
          while (held.length > 0 && (held[0] as { at: number }).at <= Date.now()) {
            const { chunk } = held.shift() as { chunk: Buffer | undefined }
            if (client.destroyed) continue
            if (chunk === undefined) client.end()
            else client.write(chunk)
          }
          if (held.length > 0) draining = setTimeout(drain, Math.max(0, (held[0] as { at: number }).at - Date.now()))
        }
        /** Passes a reply on (or, `undefined`, the server's end) after the replies before it, no sooner than the delay. */
        const reply = (chunk: Buffer | undefined) => {
          const at = Date.now() + replyDelayMs
          if (held.length === 0 && replyDelayMs === 0) {
            if (chunk === undefined) client.end()
            else client.write(chunk)
            return
          }
          held.push({ at: Math.max(at, held.at(-1)?.at ?? 0), chunk })
          if (draining === undefined) draining = setTimeout(drain, Math.max(0, (held[0] as { at: number }).at - Date.now()))
        }
        client.on('data', (chunk: Buffer) => {
          if (dropArmed !== undefined) {
            const done = dropArmed
            dropArmed = undefined
            client.destroy()
            upstream.destroy()
            done()
            return
          }
          if (armed !== undefined && cut === undefined) {
            cut = armed
            armed = undefined
          }
          upstream.write(chunk)
        })
        upstream.on('data', (chunk: Buffer) => {
          if (cut !== undefined) {
            client.destroy()
            upstream.destroy()
            if (cut.stop) void stop().then(cut.done)
            else cut.done()
            cut = undefined
            return
          }
          reply(chunk)
        })
        // Half-closes pass through as pipe() would pass them (a client's QUIT, a server hanging up),
        // the server's after the replies it sent before.
        client.on('end', () => upstream.end())
        upstream.on('end', () => reply(undefined))
      })
      s.once('error', reject)
      // Below Linux's ephemeral range (32768 and up): a port the proxy gives up while "stopped"
      // cannot be taken meanwhile by one of the machine's outgoing connections.
      s.listen(port === 0 ? 20_000 + Math.floor(Math.random() * 12_000) : port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port
        server = s
        resolve()
      })
    })

  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
      if (!server) return resolve()
      server.close(() => resolve())
      server = undefined
    })

  // The first listen picks a port: another may hold the one drawn, so draw again.
  for (let tries = 0; ; tries++) {
    try {
      await listen()
      break
    } catch (error) {
      if ((error as { code?: string }).code !== 'EADDRINUSE' || tries > 20) throw error
    }
  }
  return {
    get port() {
      return port
    },
    stop,
    start: async () => {
      if (!server) await listen()
    },
    close: stop,
    loseNextReply(options = {}) {
      return new Promise<void>((resolve) => {
        armed = { stop: options.stop === true, done: resolve }
      })
    },
    dropNextRequest() {
      return new Promise<void>((resolve) => {
        dropArmed = resolve
      })
    },
    delayReplies(ms) {
      replyDelayMs = Math.max(0, ms)
    },
  }
}

/** The URL with its host and port replaced by the proxy's. */
export function throughProxy(url: string, proxy: TcpProxy): string {
  const u = new URL(url)
  u.hostname = '127.0.0.1'
  u.port = String(proxy.port)
  return u.toString()
}
