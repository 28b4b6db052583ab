export declare const CHROMIUM: string
export declare const hasChromium: () => boolean
export declare const screenshot: (url: string, file: string, options?: { waitForText?: string; timeoutMs?: number }) => Promise<string>
