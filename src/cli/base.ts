// Shared command behaviour: --json, and turning errors into one line and an
// exit code (1 bad input, 2 usage or internal bug). One rule for where text
// goes: diagnostics (errors and warnings about the input) on stderr, the
// report or the JSON document on stdout (stderr when stdout carries the
// converted stream). Every JSON document has a top-level "ok".
import {Command, Errors} from '@oclif/core'
import {type ErrorJson, EXIT_BROKEN_PIPE, EXIT_USAGE, errorJson, OutputError, outputSystemError, XstError} from '../errors.js'
import {jsonPieces, pieces} from './json.js'
import {addWarning, forTerminal} from '../text.js'
import {refuseUndecodable} from './argv.js'
import type {Priority, Syslog} from './syslog.js'
import {type ProgressMode, progressMode} from './progress-mode.js'

export abstract class XstCommand extends Command {
  static enableJsonFlag = true

  /** Warnings raised while running, also returned in --json output. */
  protected warnings: string[] = []

  /** Set when stdout carries data (an image), so reports must go to stderr. */
  protected reportToStderr = false

  /** -q/--quiet: the text report is left out (warnings and errors are not). */
  protected quiet = false

  /** Set once printJson has written the document: oclif's own printing of run()'s result is skipped. */
  private jsonPrinted = false

  /** What the command has made visible (an output renamed into place), for the line saying the report could not be written. */
  protected committed: string | undefined

  async init(): Promise<void> {
    await super.init()
    watchStdio(this)
    refuseUndecodable(this.argv)
  }

  logJson(json: unknown): void {
    if (this.jsonPrinted) return
    const out = this.reportToStderr ? process.stderr : process.stdout
    try {
      for (const piece of jsonPieces(json)) out.write(piece)
    } catch (err) {
      // oclif prints the result after run(): a failure here is said in one line, not thrown.
      this.reportFailed(err)
    }
  }

  /**
   * The report could not be written (stdout on a full disk, `> /dev/full`):
   * one line on stderr, saying whether the command's output was written,
   * and exit status 1.
   */
  reportFailed(err: unknown): void {
    const e = reportError(err, this.reportToStderr ? 'stderr' : 'stdout')
    const done = this.committed ? `; ${this.committed} was written` : ''
    try {
      process.stderr.write(`xst ${this.id}: ${forTerminal(e.message + done)}\n`)
    } catch {}
    process.exitCode = e.exitCode
  }

  /**
   * Print the JSON document now, waiting for a slow reader between pieces,
   * for a document that can be as large as the image is (inspect-legacy
   * --verbose): written all at once, a pipe's slow reader would leave it
   * all queued in memory.
   */
  protected async printJson(json: unknown): Promise<void> {
    const out = this.reportToStderr ? process.stderr : process.stdout
    try {
      for (const piece of jsonPieces(json)) if (!(await writeWaiting(out, piece))) break
    } catch (err) {
      throw reportError(err, this.reportToStderr ? 'stderr' : 'stdout')
    }
    this.jsonPrinted = true
  }

  /**
   * The progress to show on stderr for these flags, at this terminal, in
   * this environment (progress-mode.ts); `machine` when a program reads the
   * output (the helper interface). --json counts as that too.
   */
  protected progressMode(flags: {progress?: boolean; quiet?: boolean}, machine = false): ProgressMode {
    return progressMode({
      stdoutTTY: Boolean(process.stdout.isTTY),
      stderrTTY: Boolean(process.stderr.isTTY),
      env: process.env,
      flags,
      machine: machine || this.jsonEnabled(),
    })
  }

  /** The lines of a text report, made as they are written, in pieces the reader takes before more are made (see printJson). */
  protected async printLines(lines: Iterable<string>): Promise<void> {
    if (this.jsonEnabled() || this.quiet) return
    if (this.syslog) {
      for (const l of lines) this.line(l)
      return
    }
    const out = this.reportToStderr ? process.stderr : process.stdout
    try {
      for (const piece of pieces(withNewlines(lines, forTerminal))) if (!(await writeWaiting(out, piece))) return
    } catch (err) {
      throw reportError(err, this.reportToStderr ? 'stderr' : 'stdout')
    }
  }

  /** When set (--syslog), text messages go to syslog instead of stdout/stderr. */
  protected syslog: Syslog | undefined

  /** A warning: on stderr for people, collected for --json. */
  protected note(message: string): void {
    addWarning(this.warnings, message)
    if (!this.jsonEnabled()) this.message('warning', `warning: ${forTerminal(message)}`)
  }

  /** A diagnostic line (an error or warning about the input) for people: on stderr, not under --json. */
  protected diag(text: string): void {
    if (!this.jsonEnabled()) process.stderr.write(forTerminal(text) + '\n')
  }

  /** Print a line of the text report (suppressed under --json and -q). */
  protected line(text = ''): void {
    if (!this.jsonEnabled() && !this.quiet) this.message('info', forTerminal(text))
  }

  /**
   * One text message: to syslog under --syslog (when it works), else report
   * lines to stdout (stderr when stdout carries data) and warnings and
   * errors to stderr.
   */
  protected message(priority: Priority, text: string): void {
    if (this.syslog?.send(priority, text)) return
    const toStdout = priority === 'info' && !this.reportToStderr
    try {
      ;(toStdout ? process.stdout : process.stderr).write(text + '\n')
    } catch (err) {
      throw reportError(err, toStdout ? 'stdout' : 'stderr')
    }
  }

  protected async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<never> {
    // oclif's own control flow (this.exit, --help, --version) passes through.
    if (err instanceof Errors.ExitError) throw err
    // The report itself could not be written: there is nowhere to put a JSON document.
    if (err instanceof XstError && err.code === 'report-failed') {
      this.reportFailed(err)
      this.exit(err.exitCode)
    }
    // The reader of the output closed the pipe (`xst convert IMG - | head -c 100`):
    // xst ends as cat does, killed by SIGPIPE in the shell's eyes: no word, status 141.
    if (err instanceof XstError && err.code === 'broken-pipe') {
      process.exitCode = EXIT_BROKEN_PIPE
      this.exit(EXIT_BROKEN_PIPE)
    }
    let code: number
    let json: ErrorJson & Record<string, unknown>
    let text: string
    if (err instanceof XstError) {
      code = err.exitCode
      json = err.toJSON()
      text = forTerminal(err.message)
    } else if (isParseError(err)) {
      code = EXIT_USAGE
      const message = usageMessage(err)
      json = errorJson('usage', message)
      text = `${forTerminal(message)}\nSee: xst ${this.id} --help`
    } else {
      const e = err as Error
      code = EXIT_USAGE
      json = errorJson('internal', String(e?.message ?? e))
      text = `internal error (a bug in xst, please report it at ${reportUrl(this.config.pjson)}): ${forTerminal(String(e?.message ?? e))}`
      if (process.env.XST_DEBUG) text += '\n' + (e?.stack ?? '')
    }
    if (this.jsonEnabled()) {
      this.logJson({ok: false, error: json, warnings: this.warnings})
    } else {
      this.message('err', `xst ${this.id}: ${text}`)
    }
    process.exitCode = code
    this.exit(code)
  }
}

/**
 * A failed write to stdout or stderr (a full disk, `> /dev/full`, an I/O
 * error) comes as an 'error' event on the stream, after the write returned.
 * oclif's own listener rethrows it, which Node prints as an uncaught
 * exception: a stack trace and 44 KB of the bundle. Here it is one line
 * (saying whether the command's output was written) and exit status 1. A
 * closed pipe (EPIPE) is left to whoever wrote: oclif ignored it too.
 */
let watching: XstCommand | undefined
function watchStdio(command: XstCommand): void {
  const first = watching === undefined
  watching = command
  if (!first) return
  for (const stream of [process.stdout, process.stderr]) {
    // oclif's listener would rethrow; this one takes its place.
    for (const l of stream.listeners('error')) stream.off('error', l as (...args: unknown[]) => void)
    stream.on('error', (err: NodeJS.ErrnoException) => {
      // A closed pipe is the writer's to say (the stream output reports it; a report's reader that left needs no word).
      if (err.code === 'EPIPE') return
      if (stream === process.stdout) watching?.reportFailed(err)
      process.exit(process.exitCode || 1)
    })
  }
}

/** Where a bug is reported: package.json's bugs (a URL, or {url}), else the fallback. */
export function reportUrl(pjson: object): string {
  const bugs = (pjson as {bugs?: string | {url?: string}}).bugs
  const url = typeof bugs === 'string' ? bugs : bugs?.url
  return url || 'https://github.com/xst-project/xst/issues'
}

/** A failure to write the report, as the one error it is (already one: as it is). */
function reportError(err: unknown, where: 'stdout' | 'stderr'): XstError {
  if (err instanceof XstError) return err
  const e = outputSystemError(err, where)
  return new OutputError(`cannot write the report: ${e.message}`, 'report-failed')
}

/**
 * oclif's parse error as one whole line. Its messages run over several
 * lines ("Parsing --max-errors", then the reason on the next; "Missing 1
 * required arg:", then the argument's name and description) and end with a
 * pointer to --help that the caller words itself.
 */
export function usageMessage(err: Error & {args?: Array<{name?: string; description?: string}>}): string {
  const lines = err.message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^See more help with/.test(l))
  if (err.constructor?.name === 'RequiredArgsError' && err.args?.length) {
    const names = err.args.map((a) => (a.name ? `${a.name.toUpperCase()}${a.description ? ` (${a.description})` : ''}` : 'an argument'))
    return `missing ${err.args.length === 1 ? 'argument' : 'arguments'}: ${names.join(', ')}`
  }
  const parsing = /^Parsing (--?[\w-]+)$/.exec(lines[0] ?? '')
  if (parsing && lines.length > 1) return `${parsing[1]}: ${lowerFirst(lines.slice(1).join(' '))}`
  return lines.join(' ') || err.message
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1)

/**
 * A usage error from oclif: every parse and validation error (a bad flag
 * value, a missing or unexpected argument, an unknown flag) is a CLIError.
 * ExitError is one too, but is let through before this is asked; a command
 * module that fails to load is a bug in xst, not a usage error.
 */
function isParseError(err: unknown): err is Errors.CLIError {
  return err instanceof Errors.CLIError && !(err instanceof Errors.ModuleLoadError)
}

/**
 * Write `text`; when the stream's buffer is full, wait until the reader has
 * taken it. False when the stream is gone (the reader closed it): there is
 * no point in making more.
 */
function writeWaiting(stream: NodeJS.WriteStream, text: string | Buffer): Promise<boolean> {
  if (stream.destroyed) return Promise.resolve(false)
  if (stream.write(text)) return Promise.resolve(true)
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done)
      stream.off('close', done)
      stream.off('error', done)
      resolve(!stream.destroyed)
    }
    stream.on('drain', done)
    stream.on('close', done)
    stream.on('error', done)
  })
}

/** Each line as the terminal is to show it, ended. */
function* withNewlines(lines: Iterable<string>, show: (line: string) => string): Generator<string> {
  for (const l of lines) yield show(l) + '\n'
}
