// Errors are data: every problem with an image carries where it is (byte
// offset, chunk or record index) and what was expected, so the CLI can print
// one precise line and pick the exit code without looking at a stack.
import {constants} from 'node:os'
import type {ErrorCode} from './error-codes.js'
import {plural} from './text.js'

export type {ErrorCode} from './error-codes.js'

/** Exit codes shared by every command. */
export const EXIT_BAD_INPUT = 1
export const EXIT_USAGE = 2
/** The reader of the output closed the pipe: the status a shell gives a program SIGPIPE killed (128 + 13), as cat's. */
export const EXIT_BROKEN_PIPE = 141

export interface Where {
  /** Absolute byte offset in the input stream. */
  offset?: number
  /** Chunk index (legacy) or record index (v2), counted from 0. */
  index?: number
  /** What kind of index `index` is: "chunk", "record". */
  indexKind?: string
  /** The thing being read, e.g. "page batch", "X86_PV_INFO record". */
  context?: string
}

/**
 * An error as every --json document gives it (the vocabulary's `error`,
 * src/cli/vocabulary.ts): one shape whatever the command or the error, the
 * keys always there, null where not known.
 */
export type ErrorJson = {
  code: ErrorCode
  message: string
  offset: number | null
  index: number | null
  context: string | null
  expected: string | null
  got: string | null
}

/** `code` and `message` with where the defect is (null where not known), as --json gives an error. */
export function errorJson(code: ErrorCode, message: string, at: Where & {expected?: string; got?: string} = {}): ErrorJson {
  return {
    code,
    message,
    offset: at.offset ?? null,
    index: at.index ?? null,
    context: at.context ?? null,
    expected: at.expected ?? null,
    got: at.got ?? null,
  }
}

/** Base of every error xst raises on purpose. */
export class XstError extends Error {
  readonly exitCode: number
  /** Short stable identifier, e.g. "duplicate-pfn"; part of --json output (see error-codes.ts). */
  readonly code: ErrorCode

  /** Bytes of a stream output that went out before this error stopped a conversion (they cannot be taken back). */
  partialOutput?: {output: string; bytes: number}

  constructor(code: ErrorCode, message: string, exitCode: number) {
    super(message)
    this.name = new.target.name
    this.code = code
    this.exitCode = exitCode
  }

  /** Say, in the one line, that `bytes` of this invalid stream were already written to `output`. */
  notePartialOutput(output: string, bytes: number): this {
    this.partialOutput = {output, bytes}
    this.message += `; ${plural(bytes, 'byte was', 'bytes were')} written to ${output} before the defect was found; the stream is invalid: discard it`
    return this
  }

  /** The error in --json: always the keys of ErrorJson (null where not known), then any extra this error has. */
  toJSON(): ErrorJson & Record<string, unknown> {
    return {...errorJson(this.code, this.message), ...this.partialJSON()}
  }

  protected partialJSON(): Record<string, unknown> {
    return this.partialOutput ? {partialOutput: this.partialOutput} : {}
  }
}

export function describeWhere(where: Where): string {
  const parts: string[] = []
  if (where.offset !== undefined) parts.push(`byte ${where.offset}`)
  if (where.index !== undefined) parts.push(`${where.indexKind ?? 'item'} ${where.index}`)
  if (where.context) parts.push(where.context)
  return parts.join(', ')
}

/** Where a format error is, and what the format wants there instead of what the input holds. */
export interface FormatErrorDetails extends Where {
  expected?: string
  /** What the input holds; said as "something else" when only `expected` is known. */
  got?: string
}

/** The input image breaks its format. Exit code 1. */
export class FormatError extends XstError {
  readonly where: Where
  readonly expected?: string
  readonly got?: string
  readonly detail: string

  constructor(code: ErrorCode, detail: string, {expected, got, ...where}: FormatErrorDetails = {}) {
    const ex = expected !== undefined ? `: expected ${expected}, got ${got ?? 'something else'}` : ''
    const at = describeWhere(where)
    super(code, `${at ? at + ': ' : ''}${detail}${ex}`, EXIT_BAD_INPUT)
    this.where = where
    this.expected = expected
    this.got = got
    this.detail = detail
  }

  get offset(): number | undefined {
    return this.where.offset
  }

  override toJSON(): ErrorJson & Record<string, unknown> {
    return {...errorJson(this.code, this.message, {...this.where, expected: this.expected, got: this.got}), ...this.partialJSON()}
  }
}

/** The input ends before the format says it may; `offset` is the byte at which it ended. */
export class TruncatedError extends FormatError {
  constructor(endOffset: number, inside: string, needed: number) {
    super('truncated', `stream ends at byte ${endOffset} inside ${inside} (${needed} more bytes needed)`, {offset: endOffset})
    // The detail already says where the input ended: no "byte N: " in front of it.
    this.message = this.detail
  }

  override get offset(): number {
    return this.where.offset!
  }
}

/** Bad command line, unusable path, or refusal to do something unsafe. Exit code 2. */
export class UsageError extends XstError {
  constructor(message: string, code: ErrorCode = 'usage') {
    super(code, message, EXIT_USAGE)
  }
}

/** Writing the output failed (disk full, closed pipe...). Exit code 1. */
export class OutputError extends XstError {
  constructor(message: string, code: ErrorCode) {
    super(code, message, EXIT_BAD_INPUT)
  }

  /** Say, in the one line, that `bytes` of the output went out to a device or descriptor before it failed (they stay there). */
  noteIncompleteOutput(output: string, bytes: number): this {
    this.partialOutput = {output, bytes}
    this.message += `; ${plural(bytes, 'byte was', 'bytes were')} written to ${output} before that, an incomplete output: discard it`
    return this
  }
}

/** Reading the input failed for a reason other than its content. Exit code 1. */
export class InputError extends XstError {
  constructor(message: string, code: ErrorCode) {
    super(code, message, EXIT_BAD_INPUT)
  }
}

/** Translate a Node system error on an input path into an XstError. */
export function inputSystemError(err: unknown, name: string): XstError {
  const e = err as NodeJS.ErrnoException
  switch (e?.code) {
    case 'ENOENT':
    case 'ENOTDIR': // a path through a regular file: there is no such file either
      return new UsageError(`${name}: no such file`, 'no-such-file')
    case 'EISDIR':
      return new UsageError(`${name}: is a directory, not an image`, 'is-directory')
    case 'EACCES':
    case 'EPERM':
      return new UsageError(`${name}: permission denied`, 'permission-denied')
    case 'EBADF':
      return new UsageError(`${name}: not an open file descriptor`, 'bad-fd')
    default:
      return new InputError(`${name}: cannot read: ${e?.message ?? String(err)}`, 'read-failed')
  }
}

/** Translate a Node system error while writing into an XstError. */
export function outputSystemError(err: unknown, name: string): XstError {
  const e = err as NodeJS.ErrnoException
  // libuv has no name for EDQUOT: Node calls it "Unknown system error -122".
  if (e?.code === 'EDQUOT' || (e?.errno !== undefined && e.errno === -constants.errno.EDQUOT)) {
    return new OutputError(`${name}: disk quota exceeded`, 'no-space')
  }
  switch (e?.code) {
    case 'ENOSPC':
      return new OutputError(`${name}: no space left on device`, 'no-space')
    case 'EFBIG':
      return new OutputError(`${name}: no space left for the output (file size limit reached)`, 'no-space')
    case 'EPIPE':
    case 'ECONNRESET':
      return new OutputError(`${name}: the reader closed the pipe`, 'broken-pipe')
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new UsageError(`${name}: cannot write here: permission denied`, 'permission-denied')
    case 'ENOENT':
    case 'ENOTDIR':
      return new UsageError(`${name}: the directory does not exist`, 'no-such-directory')
    default:
      return new OutputError(`${name}: write failed: ${e?.message ?? String(err)}`, 'write-failed')
  }
}
