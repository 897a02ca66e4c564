// What each invalid legacy conformance vector must be rejected for.
/** The defect each invalid vector carries, as the error code xst reports. */
export const LEGACY_DEFECTS: Record<string, {code: string; text: RegExp}> = {
  'bad-batch-over-1024': {code: 'batch-too-large', text: /page batch of 1025 pages/},
  'bad-duplicate-pfn-in-batch': {code: 'duplicate-pfn', text: /appears twice/},
  'bad-empty-file': {code: 'truncated', text: /stream ends at byte 0/},
  'bad-physmap-name-not-nul': {code: 'physmap-name-not-nul', text: /not NUL-terminated/},
  'bad-qemu-signature-unknown': {code: 'unknown-qemu-signature', text: /unknown device-model record signature/},
  'bad-truncated-in-pages': {code: 'truncated', text: /stream ends at byte \d+ inside page data/},
  'bad-unknown-chunk': {code: 'unknown-chunk', text: /unknown chunk type -21/},
  'bad-xl-unknown-mandatory-flag': {code: 'xl-unknown-mandatory-flag', text: /unknown mandatory flag/},
}
