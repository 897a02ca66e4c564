// The verifier's rules, each with what the restorer does with a stream that
// breaks it. The restorer is the judge: a defect is an error where the
// program that would read the stream refuses it, and a warning where that
// program reads on (it ignores the field, tolerates the record, or the rule
// is only the spec's prose). Each rule names the function it mirrors, in
// Xen's tools/libs/guest/xg_sr_restore*.c and xg_sr_common*.c (libxc),
// tools/libs/light/libxl_stream_read.c and libxl_dom_save.c (libxl) and
// tools/xl/xl_vmcontrol.c (xl). A rule's code is its stable identifier
// (../../error-codes.ts); its severity is decided here and nowhere else.
import type {ErrorCode} from '../../error-codes.js'

export interface RestorerRule {
  /** error: the restorer refuses the stream; warning: it reads on. */
  readonly severity: 'error' | 'warning'
  /** The restorer function(s) the rule mirrors, and what they do. */
  readonly mirrors: string
}

const refuses = (mirrors: string): RestorerRule => ({severity: 'error', mirrors})
const readsOn = (mirrors: string): RestorerRule => ({severity: 'warning', mirrors})

export const RESTORER_RULES = {
  // Headers.
  'bad-marker': refuses('libxc read_headers(): "Invalid marker"'),
  'bad-ident': refuses('libxc read_headers(): "Invalid ID"; libxl stream_header_done(): "Invalid ident"'),
  'unknown-version': refuses('libxc read_headers(): version 2 or 3 only (4.6-4.13: 2 only); libxl stream_header_done(): version 2 only'),
  'big-endian': refuses('libxc read_headers(), libxl stream_header_done(): "Unable to handle big endian streams"'),
  'reserved-bits': readsOn('libxc read_headers() and libxl stream_header_done() test only the big-endian option bit'),
  'reserved-field': readsOn('no restorer function reads the reserved fields of the headers or of PAGE_DATA, X86_PV_INFO, vcpu, X86_TSC_INFO or HVM_PARAMS records'),
  'domain-type': refuses('libxc x86_pv_setup() / x86_hvm_setup(): "Unable to restore <type> domain into an x86 <PV|HVM> domain"'),
  'page-shift': refuses('libxc x86_pv_setup() / x86_hvm_setup(): "Invalid page size"'),
  'xl-stream-v2-flag': refuses('xl create_domain() (xl_vmcontrol.c) picks libxl stream version 2 only when STREAMv2 is set; otherwise libxl runs the legacy converter on it'),

  // Framing.
  'header-out-of-place': refuses('libxc read_record() and libxl record_header_done() read a header where a record belongs'),
  'record-out-of-place': refuses('libxc process_record() and libxl process_record() see a record of the other layer as one they do not know'),
  'unknown-record': refuses('libxc restore(): "Mandatory record not handled"; libxl process_record(): "Unrecognised record" (libxl has no optional records)'),
  'optional-record': readsOn('libxc restore(): "Ignoring optional record"'),
  'record-too-long': refuses('libxc read_record(): "length exceeds max"'),
  'not-empty': readsOn('libxc process_record() never reads the body of END, VERIFY, CHECKPOINT or STATIC_DATA_END; libxl process_record() that of END, LIBXC_CONTEXT or CHECKPOINT_END'),
  'nonzero-padding': readsOn('libxc read_record() and libxl record_header_done() read the padding and never look at it'),
  'wrong-guest-record': refuses(
    'libxc x86_pv_process_record() / x86_hvm_process_record() do not handle the other guest\'s records, so restore() refuses them as mandatory; libxl process_record(): an EMULATOR_* record "when none was expected" (PV)',
  ),
  'v3-only-record': readsOn('libxc handle_static_data_end(), handle_x86_cpuid_policy() and handle_x86_msr_policy() do not look at the stream version'),
  'missing-end': refuses('libxc read_record() / libxl setup_read_record(): the stream ends before END'),
  'unexpected-tail': refuses('libxc read_record(): bytes before END are read as a record header'),
  'trailing-bytes': readsOn('libxc restore() stops reading at END and libxl process_record() completes the stream at END: nothing after it is read'),
  'qemu-record-size': refuses('xenopsd read_legacy_qemu_header() / consume_qemu_record() (xc/domain.ml) read exactly the length the device-model record gives'),

  // libxc records: order.
  'order-x86-pv-info': refuses(
    'libxc handle_x86_pv_p2m_frames() and handle_shared_info(): "Not yet received X86_PV_INFO record"; handle_x86_pv_vcpu_blob() sizes BASIC by the width only X86_PV_INFO sets',
  ),
  'order-x86-pv-p2m-frames': refuses('libxc handle_page_data(): x86_pv_pfn_is_valid() refuses pfns beyond the p2m that only X86_PV_P2M_FRAMES sizes'),
  'order-page-data': readsOn('libxc handle_x86_pv_vcpu_blob() keeps vcpu state until x86_pv_stream_complete(): its place in the stream does not matter'),
  'order-static-data-end': refuses('libxc handle_page_data() and handle_x86_pv_p2m_frames(): "No STATIC_DATA_END seen" (version 3)'),
  'policy-after-static-data-end': readsOn('libxc handle_x86_cpuid_policy() / handle_x86_msr_policy() keep it, but x86_static_data_complete() has already applied the policy'),
  'duplicate-static-data-end': refuses('libxc handle_static_data_end(): "Multiple STATIC_DATA_END records found" (in a version 2 stream the first PAGE_DATA or X86_PV_P2M_FRAMES counts as one)'),
  'duplicate-pv-info': refuses('libxc handle_x86_pv_info(): "Already received X86_PV_INFO record"'),

  // libxc records: what the end of the stream needs.
  'missing-static-data-end': readsOn('libxc: without memory or a p2m, handle_static_data_end() is never needed'),
  'missing-x86-pv-info': refuses('libxc handle_x86_pv_p2m_frames() needs it, and x86_pv_stream_complete() has no guest layout without it'),
  'missing-x86-pv-p2m-frames': refuses('libxc update_guest_p2m() in x86_pv_stream_complete() has no p2m frames to rewrite'),
  'missing-shared-info': readsOn('libxc x86_pv_stream_complete() does not check that SHARED_INFO was sent; the guest resumes with a fresh shared info page'),
  'missing-hvm-context': refuses('libxc x86_hvm_stream_complete(): xc_domain_hvm_setcontext() of no context fails'),
  'missing-vcpu0': refuses('libxc update_vcpu_context(): "Sender didn\'t send vcpu0\'s basic state"'),
  'missing-hvm-params': readsOn('libxc x86_hvm_stream_complete() does not need HVM_PARAMS'),

  // libxc records: contents.
  'record-size': refuses(
    "the record's libxc handler checks its size: handle_page_data(), handle_x86_pv_info(), handle_x86_pv_p2m_frames(), handle_x86_pv_vcpu_blob(), handle_shared_info(), handle_x86_tsc_info(), handle_hvm_params(), handle_x86_cpuid_policy(), handle_x86_msr_policy(); libxl process_record() / write_emulator_blob() for the emulator header",
  ),
  'record-longer': readsOn('libxc handle_x86_pv_info() checks only that the body holds the 8-byte record'),
  'page-data-short': refuses('libxc handle_page_data(): "PAGE_DATA record truncated"'),
  'page-data-empty': refuses('libxc handle_page_data(): "Expected at least 1 pfn"'),
  'page-data-count': refuses('libxc handle_page_data() reads any count the record length allows; xst checks at most 2^20 pfns a record (Xen writes at most 1024)'),
  'page-data-size': refuses('libxc handle_page_data(): "PAGE_DATA record wrong size" / "too short to contain N pfns"'),
  'pfn-reserved-bits': readsOn('libxc handle_page_data() masks each pfn word with PAGE_DATA_PFN_MASK and PAGE_DATA_TYPE_MASK'),
  'pfn-type-invalid': refuses('libxc handle_page_data(): is_known_page_type() "Unknown type"'),
  'pfn-out-of-range': refuses('libxc handle_page_data(): x86_pv_pfn_is_valid() "outside domain maximum"'),
  'pv-info-width': refuses('libxc handle_x86_pv_info(): valid_x86_pv_info_combination()'),
  'pv-info-levels': refuses('libxc handle_x86_pv_info(): valid_x86_pv_info_combination()'),
  'p2m-frames-range': refuses('libxc handle_x86_pv_p2m_frames(): "End pfn in stream exceeds Start"'),
  'p2m-frames-size': refuses('libxc handle_x86_pv_p2m_frames(): "X86_PV_P2M_FRAMES record wrong size"'),
  'vcpu-id-range': refuses('libxc handle_x86_pv_vcpu_blob(): "vcpu_id exceeds domain max" (xst checks the most vcpus any guest can have)'),
  'vcpu-context-size': refuses("libxc handle_x86_pv_vcpu_blob(): BASIC of the guest's size, EXTENDED at most 128 bytes, XSAVE at least 16, MSRS whole entries"),
  'vcpu-record-empty': readsOn('libxc handle_x86_pv_vcpu_blob(): "Skipping empty record" (written by Xen 4.6-4.8)'),
  'vcpu-without-basic': readsOn('libxc update_vcpu_context() requires BASIC for vcpu 0 only; the other records of a vcpu without one are still applied, and the vcpu stays down'),
  'hvm-context-empty': refuses('libxc handle_hvm_context(): update_blob() refuses an empty blob'),
  'hvm-params-size': refuses('libxc handle_hvm_params(): "HVM_PARAMS record truncated"'),
  'hvm-params-empty': readsOn('libxc handle_hvm_params(): "Skipping empty HVM_PARAMS record" (written by Xen 4.6-4.8)'),
  'toolstack-record': refuses('libxc x86_pv_process_record() / x86_hvm_process_record() do not handle TOOLSTACK, so restore() refuses it as mandatory'),
  'back-channel-record': refuses('libxc x86_*_process_record() do not handle CHECKPOINT_DIRTY_PFN_LIST, so restore() refuses it as mandatory'),

  // libxl records.
  'missing-libxc-context': refuses('libxl process_record(): END completes the stream with no domain memory restored'),
  'missing-libxc-end': refuses('libxl: the libxc stream started by LIBXC_CONTEXT never reaches its END'),
  'duplicate-libxc-context': refuses('libxl process_record(): a second LIBXC_CONTEXT starts libxl__xc_domain_restore() again on a domain already restored'),
  'emulator-id': readsOn('libxl write_emulator_blob() and libxl__restore_emulator_xenstore_data() never read the emulator id'),
  'xenstore-data-size': readsOn('libxl__restore_emulator_xenstore_data() reads the whole body; xst checks the strings of at most MAX_XENSTORE_DATA bytes'),
  'xenstore-not-terminated': refuses('libxl__restore_emulator_xenstore_data(): "Key in xenstore data not NUL terminated"'),
  'xenstore-odd-strings': refuses('libxl__restore_emulator_xenstore_data(): "Val in xenstore data not NUL terminated"'),
  'xenstore-empty-key': refuses('libxl__restore_emulator_xenstore_data(): "empty key found in xenstore data"'),
  'xenstore-absolute-key': refuses('libxl__restore_emulator_xenstore_data(): "Key in xenstore data not relative"'),
  'checkpoint-end-out-of-place': refuses('libxl process_record(): "Unexpected CHECKPOINT_END record in stream"'),
  'checkpoint-state-out-of-place': refuses('libxl process_record(): "Unexpected CHECKPOINT_STATE record in stream" (it reads one only after a CHECKPOINT_END of a COLO stream)'),
  'checkpoint-cut': readsOn(
    'libxc restore() fails over at a read error after a checkpoint (remus_failover), and libxl drops a checkpoint without CHECKPOINT_END: the last complete checkpoint is restored',
  ),
} as const satisfies Partial<Record<ErrorCode, RestorerRule>>

/** A code the verifier's rules report; its severity comes from RESTORER_RULES. */
export type RuleCode = keyof typeof RESTORER_RULES
