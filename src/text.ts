// Small formatting helpers shared by the reports.

/** "1 chunk", "2 chunks". */
export const plural = (n: number, one: string, many = one + 's'): string => `${n} ${n === 1 ? one : many}`

/** 0x-prefixed hex, zero-padded to `width` digits. */
export const hex = (n: number | bigint, width = 0): string => '0x' + n.toString(16).padStart(width, '0')

/** Odd bytes of an id or signature shown as escapes (\xNN). */
export const printable = (s: string): string => s.replace(/[^\x20-\x7e]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'))
