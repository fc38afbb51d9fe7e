import {
  decodeOtlpJson,
  decodeOtlpProtobuf,
  decodeZipkinJson,
  decodeZipkinProto3,
  type Span,
  type SpanLimits,
} from '@blkkin/model';

/** The wire formats ingest accepts. Codes are stored in the ingest log: never renumber. */
export const Format = {
  ZipkinJson: 1,
  ZipkinProto3: 2,
  OtlpProtobuf: 3,
  OtlpJson: 4,
} as const;
export type FormatCode = (typeof Format)[keyof typeof Format];

interface FormatInfo {
  /** The `transport` label in metrics. */
  transport: string;
  decode(payload: Buffer, limits: SpanLimits): Span[];
}

export const FORMATS: Record<FormatCode, FormatInfo> = {
  [Format.ZipkinJson]: { transport: 'zipkin-json', decode: (p, l) => decodeZipkinJson(p, l) },
  [Format.ZipkinProto3]: { transport: 'zipkin-proto3', decode: (p, l) => decodeZipkinProto3(p, l) },
  [Format.OtlpProtobuf]: { transport: 'otlp-proto', decode: (p, l) => decodeOtlpProtobuf(p, l) },
  [Format.OtlpJson]: {
    transport: 'otlp-json',
    decode: (p, l) => decodeOtlpJson(p.toString('utf8'), l),
  },
};

export function isFormatCode(code: number): code is FormatCode {
  return code in FORMATS;
}
