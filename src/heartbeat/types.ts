// A Heartbeat 3 message is an ordered list of typed fields; order matters
// because both digests are computed over the fields as they were written.

/** cluster-glue FT_* field types. 0 string, 1 binary, 2 struct, 3 list, 4 compressed, 5 uncompressed. */
export type FieldType = 0 | 1 | 2 | 3 | 4 | 5;

export interface Field {
  type: FieldType;
  name: string;
  value: Buffer;
}

export type DecodeReason =
  | 'truncated'   // datagram ends before the framing says it should
  | 'framing'     // bytes that are not Heartbeat netstring framing
  | 'field'       // a field netstring that does not parse
  | 'auth-index'  // trailer names a key index authkeys does not have
  | 'auth'        // a digest does not verify
  | 'too-large';

/** The only error decode ever throws. `reason` feeds the drop counters. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  constructor(readonly reason: DecodeReason, message: string) {
    // A flood of forged datagrams throws one of these per datagram. The stack
    // is never shown (the reason and message are), and capturing it costs
    // more than the check that failed.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
  }
}
