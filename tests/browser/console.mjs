// The web console in a real browser: Debian's Chromium driven by playwright-core.
//   node tests/browser/console.mjs <base_url> <screenshot.png> <token>
// Exits 0 when every check passed; otherwise prints what failed and exits 1.
// Run by tests/browser.rs against a real stack (scripts/test.sh runs that).
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, screenshot, token] = process.argv.slice(2);
if (!base || !screenshot || !token) {
  console.error("usage: node tests/browser/console.mjs <base_url> <screenshot.png> <token>");
  process.exit(2);
}
const executablePath = process.env.VIDGEN_CHROMIUM || "/usr/bin/chromium";
const WAIT = 60_000;

function check(ok, what) {
  if (!ok) throw new Error("check failed: " + what);
  console.log("ok:", what);
}

// The API itself, to confirm what the page shows (e.g. that nothing was created).
async function apiJobs() {
  const res = await fetch(base + "/v1/videos?limit=100", {
    headers: { Authorization: "Bearer " + token },
  });
  return (await res.json()).data;
}

const profile = mkdtempSync(join(tmpdir(), "vidgen-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1280, height: 900 },
});
// Whatever happens, no browser outlives the test.
const watchdog = setTimeout(() => {
  console.error("timed out after 150 s");
  context.close().finally(() => process.exit(1));
}, 150_000);

const problems = [];
let failed = false;
try {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(WAIT);
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => {
    // A CSP refusal is reported on the console; anything refused is a bug of the page.
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push("csp: " + m.text());
  });

  // 1. No token yet: the API answers 401 and the page asks for one.
  await page.goto(base + "/");
  await page.locator("#token-entry").waitFor({ state: "visible" });
  check(true, "a 401 shows the token entry");
  await page.fill("#token", token);
  await page.click("#token-form button[type=submit]");
  await page.locator("#token-entry").waitFor({ state: "hidden" });
  await page.waitForFunction(() => document.querySelectorAll("#f-model option").length > 0);
  check(true, "with the token the models load");
  // Set once; still there at the end = the page was never reloaded.
  await page.evaluate(() => (window.__noReload = true));

  // 2. Bad input: the error appears beside the field, and no job is created.
  await page.fill("#f-script", "");
  await page.click("#create");
  await page.locator("#err-script").filter({ hasText: /\S/ }).waitFor();
  check(
    await page.locator('.field[data-field="script"].invalid').count() === 1,
    "an empty script shows its error beside the script field: " + (await page.textContent("#err-script")),
  );
  await page.fill("#f-script", "A fox in the snow");
  await page.fill("#f-style", "x".repeat(201));
  await page.click("#create");
  await page.locator("#err-style").filter({ hasText: /\S/ }).waitFor();
  check(
    (await page.textContent("#err-script")) === "",
    "a too-long style shows its error beside the style field (and only there): " +
      (await page.textContent("#err-style")),
  );
  check((await apiJobs()).length === 0 && (await page.locator(".job").count()) === 0, "no job was created");

  // 3. A job from the form: its progress bar reaches 100% without a reload, pushed over
  // the events WebSocket (while it is open the page does not poll).
  await page.waitForSelector('#live[data-state="live"]', { timeout: 10000 });
  check(true, "the events WebSocket is open (live, not polling)");
  await page.fill("#f-style", "cinematic");
  await page.fill("#f-keywords", "snow, dawn");
  await page.fill("#f-negative", "text");
  const seconds = Number(await page.inputValue("#f-seconds"));
  await page.click("#create");
  const card = page.locator(".job").first();
  await card.waitFor();
  const id = await card.getAttribute("data-id");
  check(/^vid_/.test(id), "the new job is listed: " + id);
  check((await page.textContent("#err-style")) === "", "the style error is gone");
  await page.waitForFunction(
    (id) => {
      const el = document.querySelector(`.job[data-id="${id}"]`);
      const bar = el && el.querySelector("progress");
      return bar && bar.value === 100 && bar.getAttribute("aria-valuenow") === "100" && el.dataset.status === "completed";
    },
    id,
    { timeout: WAIT },
  );
  check(await page.evaluate(() => window.__noReload === true), "progress reached 100% and completed without a reload");

  // 4. The player loads the video, and its duration is the job's seconds.
  const video = card.locator("video");
  await video.waitFor();
  const duration = await video.evaluate(
    (v) =>
      new Promise((resolve, reject) => {
        if (v.readyState >= 1) return resolve(v.duration);
        v.addEventListener("loadedmetadata", () => resolve(v.duration), { once: true });
        v.addEventListener("error", () => reject(new Error("video error " + (v.error && v.error.code))), { once: true });
      }),
  );
  check(Math.abs(duration - seconds) <= 0.1, `the video's duration ${duration} s is the job's ${seconds} s`);
  const poster = await video.getAttribute("poster");
  check(!!poster && poster.includes("/files/"), "the thumbnail is the poster");

  // 5. Cancel a job that never finishes: its status shows canceled.
  await page.fill("#f-script", "An endless render [sim:never_finish]");
  await page.click("#create");
  const endless = page.locator(".job").first();
  await page.waitForFunction((first) => document.querySelector(".job").dataset.id !== first, id);
  const endlessId = await endless.getAttribute("data-id");
  await endless.locator(".cancel").click();
  await page.waitForFunction(
    (id) => document.querySelector(`.job[data-id="${id}"] .status`)?.textContent === "canceled",
    endlessId,
  );
  const canceled = (await apiJobs()).find((j) => j.id === endlessId);
  check(canceled && canceled.status === "canceled", "the never-finishing job shows canceled (and is, in the API)");

  // 6. Delete it: gone from the page and from the API.
  await endless.locator(".delete").click();
  await page.locator(`.job[data-id="${endlessId}"]`).waitFor({ state: "detached" });
  check(!(await apiJobs()).some((j) => j.id === endlessId), "a deleted job is gone");

  await page.screenshot({ path: screenshot, fullPage: true });
  console.log("screenshot:", screenshot);
  check(problems.length === 0, "no page errors or CSP refusals: " + JSON.stringify(problems));
} catch (e) {
  failed = true;
  console.error(e && e.stack ? e.stack : String(e));
  if (problems.length) console.error("page problems:", problems);
} finally {
  clearTimeout(watchdog);
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
