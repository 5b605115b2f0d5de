/**
 * The one mapping from a thrown error to an HTTP answer. Catalogue errors keep their status and
 * message; the framework's body errors map to the catalogue; anything else is a bare 500 and goes
 * to the log with the request id, never to the client. Store adapters translate their drivers'
 * errors into the catalogue (`unavailable`), so no driver code is known here.
 */
import { AppError, CATALOGUE, type ErrorCode } from '../domain/errors.js';

export interface HttpError {
  readonly status: number;
  readonly message: string;
  /** Unexpected: log it with the request id. */
  readonly unexpected: boolean;
}

const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'body_not_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'body_not_json',
};

export function toHttpError(error: unknown): HttpError {
  // A store that cannot be reached is no client's fault: answered 503 and logged with its cause.
  if (error instanceof AppError) return { status: error.status, message: error.message, unexpected: error.status >= 500 };
  const e = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; statusCode?: unknown; message?: unknown };
  const mapped = typeof e.code === 'string' ? FRAMEWORK_CODES[e.code] : undefined;
  if (mapped) return { status: CATALOGUE[mapped].status, message: CATALOGUE[mapped].message, unexpected: false };
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status === 413) return { status, message: CATALOGUE.body_too_large.message, unexpected: false };
  if (status === 415) return { status, message: CATALOGUE.unsupported_media_type.message, unexpected: false };
  if (status >= 400 && status < 500) return { status, message: CATALOGUE.bad_request.message, unexpected: false };
  return { status: 500, message: CATALOGUE.internal.message, unexpected: true };
}
