// Every code xst reports: the `code` of an error (the one line a command
// fails with) and of a problem the v2 verifier lists. `--json` output carries
// these strings and scripts match on them, so they are promised stable: an
// entry may be added, never renamed. The README lists them from here
// (scripts/error-codes-readme.mjs writes that section; a test checks it).
//
// Errors and verifier problems share one list because a problem can become
// an error: dump-core refuses a v2 stream with the code of the first
// problem the verifier finds in it.

export const ERROR_CODES = {
  // The command line, paths and descriptors (exit code 2).
  usage: 'the command line is wrong: a missing or contradictory argument or flag',
  internal: 'a bug in xst; the message says what failed',
  'no-such-file': 'the input file does not exist',
  'no-such-directory': 'the directory the output goes into does not exist',
  'is-directory': 'an input or output path is a directory',
  'permission-denied': 'the input cannot be read, or the output written, for lack of permission',
  'bad-fd': 'a file descriptor number given is not open',
  'fd-not-open': 'a descriptor number that was not passed to xst',
  'symlink-loop': 'the output path has too many levels of symbolic links',
  'output-exists': 'the output exists and --force was not given',
  'output-is-input': 'the output is the input file',
  'output-is-terminal': 'a binary stream would go to a terminal and --force was not given',
  'bad-config': 'the --config file cannot be read or is not text',
  'config-not-applicable': '--config was given for an output that gets no new xl header',
  'container-format': '--container and --format ask for a pair no restorer reads, or that xst cannot make from this input',
  'container-needs-xml': '--container libvirt needs the domain XML, which only a libvirt input has',
  'bad-source-date-epoch': 'SOURCE_DATE_EPOCH is not a whole number of seconds',

  // Reading the input and writing the output (exit code 1).
  'read-failed': 'reading the input failed for a reason other than its content (an I/O error)',
  'input-changed': 'the input read differently the second time: it changed while xst read it',
  'no-space': 'the output device is full, or the file size limit was reached',
  'broken-pipe': 'the program reading the output closed the pipe',
  'socket-refused': 'nothing is listening on the output socket',
  'write-failed': 'writing the output failed for another reason',

  // What the input is.
  truncated: 'the input ends before the format says it may',
  'empty-input': 'the input is empty',
  'no-stream': 'nothing follows the container header, or the input is empty',
  'not-an-image': 'the input is neither a v2 stream nor a legacy image',
  undetectable: 'no legacy layout (PV or HVM, 32- or 64-bit toolstack) fits the first bytes; --guest and --width may help',
  'legacy-image': 'a legacy image where a v2 stream is needed: convert it first',
  'already-v2': 'a v2 stream where a legacy image is needed: there is nothing to convert',
  'not-convertible': 'a legacy chunk that v2 streams have no equivalent for',
  'not-x86': 'the stream is of a guest that is not x86; xst dumps x86 guests only',
  'bad-length': 'a length field does not hold a usable number',
  'length-too-large': 'a length field is over the limit xst holds in memory or checks',

  // gzip around an image.
  'gzip-corrupt': 'the gzip data is damaged',
  'gzip-truncated': 'the gzip data ends before its end marker',
  'gzip-nested': 'gzip inside more layers of gzip than xst reads through',

  // The xl header.
  'no-xl-header': '-x was given but the image does not start with an xl header',
  'xl-big-endian': 'the xl header was written by a big-endian host',
  'xl-byteorder': 'the xl header byte-order mark is wrong',
  'xl-unknown-mandatory-flag': 'the xl header sets a mandatory flag xst does not know',
  'xl-config-length': 'the xl domain config is longer than the optional data holding it',

  // libvirt, xend and XenServer containers.
  'libvirt-bad-magic': 'not a libvirt save image: the magic is wrong',
  'libvirt-unknown-version': 'the libvirt save header version is not one xst knows',
  'libvirt-version-mismatch': 'the libvirt header version claims a different stream from the one that follows',
  'libvirt-xml-empty': 'the libvirt save header holds no domain XML',
  'libvirt-xml-not-terminated': 'the libvirt domain XML does not end in a NUL within its length',
  'xend-bad-signature': 'not an xend save file: the signature is wrong',
  'xend-config-length': 'the xend config length is not a positive length',
  'xend-config-syntax': 'the xend config is not a well-formed s-expression',
  'xend-config-not-domain': 'the xend config is not a (domain ...) list',
  'xenserver-bad-signature': 'not a XenServer suspend image: the signature is wrong',
  'xenserver-unknown-section': 'a XenServer section type xst does not know',
  'xenserver-no-end': 'the XenServer image ends without an End_of_image section',
  'xenserver-no-stream': 'the XenServer image ends before any memory image section',
  'xenserver-no-libxc': 'the XenServer image has no Libxc section, so no memory image',
  'xenserver-no-legacy': 'the XenServer image has no Libxc_legacy section to inspect',
  'xenserver-no-memory-image': 'the first stream section of the XenServer image is not one a memory image is restored from',
  'xenserver-second-libxc': 'a second Libxc section: an image holds one memory image',
  'xenserver-refused-section': 'a XenServer section xenopsd refuses to restore, or whose end xst cannot find',
  'xenserver-opaque-section': 'a XenServer section in a format whose end xst cannot find, before the memory image',
  'xenserver-stream-after': 'a stream section after the memory image, whose end xst cannot find',
  'xenserver-qemu-too-large': 'a Qemu_trad section over 1 MiB, which xenopsd refuses (consume_qemu_record)',
  'xenops-record': 'the Xenops section is not a record xenopsd reads',
  'unknown-qemu-signature': 'the device-model record after the HVM context has an unknown signature',

  // The legacy (Xen <= 4.5) stream.
  'bad-p2m-size': 'p2m_size is 0, or too large for a legacy image',
  'no-extended-info': 'a PV image has no extended-info block after p2m_size',
  'extended-info-length': 'the extended-info blocks do not fill its length exactly',
  'bad-vcpu-block': 'the extended-info vcpu block size gives no known guest width',
  'bad-xcnt-block': 'the extended-info xcnt block does not hold one u32',
  'no-vcpu-block': 'the extended info has no vcpu block, so the guest width is unknown',
  'unknown-chunk': 'a chunk type that is neither a page batch nor a known chunk',
  'batch-too-large': 'a page batch of more pages than the format allows',
  'bad-pfn-entry': 'a page batch entry sets bits above 31',
  'bad-page-type': 'a page batch entry has an undefined page type',
  'duplicate-pfn': 'a pfn appears twice in one page batch with the same type',
  'hvm-chunk-in-pv': 'an HVM parameter chunk in a PV image',
  'bad-vcpu-info': 'the vcpu_info chunk gives a maximum vcpu id out of range',
  'bad-toolstack': 'the toolstack data is cut short or of an unknown version',
  'physmap-name-not-nul': 'a physmap entry name in the toolstack data is not NUL-terminated',
  'bad-xsave-size': 'a vcpu xsave area is larger than the xcnt block allows',

  // Converting (or dumping) a legacy image.
  'no-page-data': 'the PV image sends no pages, which a v2 restorer refuses',
  'vcpu0-offline': 'vcpu_info leaves vcpu 0 offline, which a v2 restorer refuses',
  'empty-hvm-context': 'the HVM context is empty, which a v2 restorer refuses',
  'pfn-too-large': 'a page for a pfn beyond the guest memory xst dumps',
  'converted-stream-invalid': 'the stream xst converted does not verify (a bug in xst, or a defect the converter let through)',
  'stream-invalid': 'the v2 stream to be copied out of a container does not verify',

  // The v2 stream: headers, framing and order.
  'bad-marker': 'the image header marker is not all ones',
  'bad-ident': 'the libxl or libxc header ident is wrong',
  'unknown-version': 'the libxl or libxc stream version is unknown',
  'reserved-bits': 'a header options field sets reserved bits',
  'reserved-field': 'a reserved header or record field is not zero',
  'big-endian': 'the stream is big-endian; xst checks little-endian streams only',
  'domain-type': 'the domain type is not x86 PV or HVM',
  'page-shift': 'the page shift is not 12 (4096-byte pages)',
  'xl-stream-v2-flag': 'the xl STREAMv2 flag does not match the stream that follows',
  'header-out-of-place': 'a header in the middle of the stream',
  'record-out-of-place': 'a record of a layer where the other layer was expected',
  'unknown-record': 'a mandatory record type that is not defined',
  'record-too-long': 'a libxc record longer than the restorer accepts',
  'record-size': 'a record body of the wrong size for its type',
  'not-empty': 'a record that must be empty has a body',
  'nonzero-padding': 'the padding after a record body is not zero',
  'wrong-guest-record': 'a PV-only record in an HVM stream, or the other way round',
  'v3-only-record': 'a record that exists only in version 3 streams, in a version 2 stream',
  'missing-end': 'the stream ends before its END record',
  'unexpected-tail': 'bytes outside any record before the END record',
  'trailing-bytes': 'bytes after the END record that are not a device-model record',
  'qemu-record-size': 'the device-model record after END has no length field, or says a length other than what follows',

  // libxc records.
  'order-x86-pv-info': 'a PV record that needs X86_PV_INFO comes before it',
  'order-x86-pv-p2m-frames': 'a PV record that needs X86_PV_P2M_FRAMES comes before it',
  'order-page-data': 'PV vcpu state comes before any PAGE_DATA',
  'order-static-data-end': 'memory or the p2m before STATIC_DATA_END, or the CPU policy after it (version 3)',
  'order-hvm-params': 'retired, never reported: HVM_PARAMS after HVM_CONTEXT, the order Xen\'s own saver writes and its restorer accepts',
  'missing-static-data-end': 'a version 3 stream without STATIC_DATA_END',
  'missing-x86-pv-info': 'a PV stream without X86_PV_INFO',
  'missing-x86-pv-p2m-frames': 'a PV stream without X86_PV_P2M_FRAMES',
  'missing-shared-info': 'a PV stream without SHARED_INFO',
  'missing-hvm-context': 'an HVM stream without HVM_CONTEXT',
  'missing-vcpu0': 'a PV stream without X86_PV_VCPU_BASIC for vcpu 0',
  'duplicate-static-data-end': 'a second STATIC_DATA_END',
  'duplicate-pv-info': 'a second X86_PV_INFO',
  'page-data-short': 'a PAGE_DATA body shorter than its header',
  'page-data-empty': 'a PAGE_DATA record with a count of 0',
  'page-data-count': 'a PAGE_DATA count over what xst checks in one record',
  'page-data-size': 'a PAGE_DATA body too short for its count',
  'pfn-reserved-bits': 'a PAGE_DATA pfn word sets reserved bits',
  'pfn-type-invalid': 'a PAGE_DATA pfn word has an undefined page type',
  'pfn-out-of-range': 'a pfn beyond the guest p2m (legacy p2m_size, or v2 X86_PV_P2M_FRAMES)',
  'pv-info-width': 'X86_PV_INFO guest width is not 4 or 8',
  'pv-info-levels': 'X86_PV_INFO pagetable levels do not fit the guest width',
  'p2m-frames-range': 'X86_PV_P2M_FRAMES start_pfn is after end_pfn',
  'p2m-frames-size': 'X86_PV_P2M_FRAMES body does not hold the frames its pfn range needs',
  'vcpu-id-range': 'a vcpu id beyond the vcpus a Xen guest can have',
  'vcpu-context-size': 'a vcpu record context of the wrong size',
  'vcpu-without-basic': 'vcpu records for a vcpu that has no X86_PV_VCPU_BASIC',
  'hvm-context-empty': 'an empty HVM_CONTEXT',
  'hvm-params-size': 'an HVM_PARAMS body that does not fit its count',
  'toolstack-record': 'a deprecated TOOLSTACK record',
  'back-channel-record': 'a COLO back-channel record in a saved stream',

  // libxl records.
  'missing-libxc-context': 'the libxl stream ends without a LIBXC_CONTEXT',
  'missing-libxc-end': 'the libxl stream ends inside a checkpoint, before the libxc END',
  'duplicate-libxc-context': 'a second LIBXC_CONTEXT',
  'emulator-id': 'an emulator id that is not defined',
  'xenstore-data-size': 'EMULATOR_XENSTORE_DATA larger than xst checks',
  'xenstore-not-terminated': 'xenstore data does not end with a NUL',
  'xenstore-odd-strings': 'xenstore data holds an odd number of strings',
  'checkpoint-end-out-of-place': 'CHECKPOINT_END without a libxc CHECKPOINT before it',
  'checkpoint-state-empty': 'an empty CHECKPOINT_STATE',

  // Warnings of the verifier (listed under "warnings"; they do not make a stream invalid).
  'optional-record': 'warning: an optional record type xst does not know (skipped)',
  'vcpu-record-empty': 'warning: a vcpu record with no context (written by Xen 4.6-4.8)',
  'hvm-params-empty': 'warning: HVM_PARAMS with no parameters (written by Xen 4.6-4.8)',
  'missing-hvm-params': 'warning: an HVM stream without HVM_PARAMS',
  'xenserver-unchecked-after-demu': 'warning: a Demu (vGPU) section follows the memory image; it and the sections after it were not checked (their end cannot be found)',
  'xenops-unknown-field': 'warning: the Xenops record holds a field xst does not know; a xenopsd without it refuses the record',
} as const

/** A code from the catalogue; a code that is not in it does not compile. */
export type ErrorCode = keyof typeof ERROR_CODES
