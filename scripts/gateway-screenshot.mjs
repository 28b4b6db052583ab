#!/usr/bin/env node
// Renders a page (the gateway's docs page) in headless Chromium, Debian's own (/usr/bin/chromium,
// driven by playwright-core; no browser is downloaded), and writes a PNG of it. Returns what the
// page shows as text, for a test to check. Usage: node scripts/gateway-screenshot.mjs URL FILE
import { existsSync } from "node:fs"
import { chromium } from "playwright-core"

export const CHROMIUM = "/usr/bin/chromium"
export const hasChromium = () => existsSync(CHROMIUM)

/** Opens `url`, waits until `waitForText` shows, writes a screenshot to `file`, and returns the page's text. */
export const screenshot = async (url, file, { waitForText, timeoutMs = 60_000 } = {}) => {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
  })
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
    await page.goto(url, { waitUntil: "load", timeout: timeoutMs })
    if (waitForText !== undefined) await page.getByText(waitForText).first().waitFor({ timeout: timeoutMs })
    await page.screenshot({ path: file })
    return await page.innerText("body")
  } finally {
    await browser.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [url, file] = process.argv.slice(2)
  if (url === undefined || file === undefined) {
    console.error("usage: node scripts/gateway-screenshot.mjs URL FILE   (e.g. http://127.0.0.1:8080/docs docs/gateway-docs.png)")
    process.exit(2)
  }
  await screenshot(url, file, { waitForText: "BEDS HTTP gateway" })
  console.log(`wrote ${file}`)
}
