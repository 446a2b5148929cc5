/** The SDK's public errors are the shared client's (api/http-client.ts): one class for all three clients. */
export {
  LatchkeyApiError,
  LatchkeyNetworkError,
  type ErrorCode,
  type FieldProblem,
} from "../api/http-client.js";
