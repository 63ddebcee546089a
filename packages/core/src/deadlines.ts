/**
 * Per-attempt time limits on one shared timer. Every attempt gets the same limit, so deadlines
 * arrive in start order: a FIFO queue with a single setTimeout armed for its front replaces a
 * timer per attempt (creating and clearing Node timers cost more than the rest of an attempt's
 * bookkeeping). Finished attempts are dropped from the front as they finish, so the queue holds
 * about the attempts in progress.
 */
export interface Expiring {
  /** Called once when the deadline passes before finish(). */
  expire(): void
}

export interface Deadline {
  readonly at: number
  readonly target: Expiring
  done: boolean
}

export class Deadlines {
  readonly #limitMs: number
  #queue: Deadline[] = []
  #head = 0
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(limitMs: number) {
    this.#limitMs = limitMs
  }

  /** `startedAt` (default now) may be a moment ago: the deadline is set once the work turned out to be still running. */
  start(target: Expiring, startedAt = Date.now()): Deadline {
    const deadline: Deadline = { at: startedAt + this.#limitMs, target, done: false }
    const queue = this.#queue
    // Starts normally arrive in order. A handler that started another attempt in its synchronous
    // part (by re-entering a receiver) is set after that one, though due before it: put it in place.
    let i = queue.length
    while (i > this.#head && (queue[i - 1] as Deadline).at > deadline.at) i--
    if (i === queue.length) queue.push(deadline)
    else queue.splice(i, 0, deadline)
    if (this.#timer === undefined) this.#arm()
    else if (i === this.#head) {
      // A new front: the timer was set for the old one.
      clearTimeout(this.#timer)
      this.#arm()
    }
    return deadline
  }

  finish(deadline: Deadline): void {
    deadline.done = true
    this.#dropFinished()
  }

  #dropFinished(): void {
    while (this.#head < this.#queue.length && (this.#queue[this.#head] as Deadline).done) this.#head++
    if (this.#head === this.#queue.length) {
      this.#queue = []
      this.#head = 0
      clearTimeout(this.#timer)
      this.#timer = undefined
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  #arm(): void {
    const front = this.#queue[this.#head]
    this.#timer = front ? setTimeout(() => this.#expireDue(), Math.max(0, front.at - Date.now())) : undefined
  }

  #expireDue(): void {
    const now = Date.now()
    while (this.#head < this.#queue.length) {
      const front = this.#queue[this.#head] as Deadline
      if (!front.done && front.at > now) break
      this.#head++
      if (!front.done) {
        front.done = true
        front.target.expire()
      }
    }
    this.#dropFinished()
    if (this.#head < this.#queue.length) this.#arm()
  }
}
