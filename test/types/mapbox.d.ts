// Minimal types for the Mapbox packages the tests drive unchanged (they ship none).
declare module '@mapbox/parse-mapbox-token' {
  interface ParsedMapboxToken {
    usage: string;
    user: string;
    authorization?: string;
    expires?: string;
    created?: string;
    scopes?: string[];
    client?: string;
  }
  export default function parseMapboxToken(token: string): ParsedMapboxToken;
}

declare module '@mapbox/mapbox-sdk' {
  export default function mbxClient(options: { accessToken: string; origin?: string }): unknown;
}

declare module '@mapbox/mapbox-sdk/services/tokens.js' {
  export interface MapiResponse {
    statusCode: number;
    body: unknown;
    headers: Record<string, string>;
    hasNextPage(): boolean;
    nextPage(): MapiRequest | null;
  }
  export interface MapiRequest {
    send(): Promise<MapiResponse>;
  }
  export interface MapiError {
    type: string;
    statusCode?: number;
    body?: { message?: string } | string;
    message?: string;
  }
  interface TokensService {
    listTokens(): MapiRequest;
    createToken(config?: { note?: string; scopes?: string[]; resources?: string[]; allowedUrls?: string[] }): MapiRequest;
    createTemporaryToken(config: { expires: string | Date; scopes: string[] }): MapiRequest;
    updateToken(config: { tokenId: string; note?: string; scopes?: string[]; resources?: string[] | null; allowedUrls?: string[] | null }): MapiRequest;
    getToken(): MapiRequest;
    deleteToken(config: { tokenId: string }): MapiRequest;
    listScopes(): MapiRequest;
  }
  export default function tokensService(options: { accessToken: string; origin?: string }): TokensService;
}
