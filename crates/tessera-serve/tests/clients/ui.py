"""The web UI in a real browser (crates/tessera-serve/tests/it/ui.rs starts the server).

    UI_BASE=http://127.0.0.1:PORT UI_TOKENS='{"sam": "tsr_…", …}' UI_SCREENSHOTS=DIR \
        python ui.py

Drives Debian's headless Chromium through chromedriver (selenium, with the system
binaries named, so selenium-manager never downloads a browser) through the marketplace:
sign in → search as you type → open a product → a masked sample (ana, an analyst);
a principal with no role (nobody) finds shop/orders and is refused its sample with the
deciding policy →
requests access → sign in as the domain's owner (sam) → approve → sign in as nobody →
the sample and an API query succeed, classified columns masked; and around it: a page without a session redirects to sign-in, the audit
page is refused to a non-auditor and shown to the data protection officer, a 404 page.
Every page is checked for horizontal overflow at 1366 px, and the main ones are saved
as screenshots in UI_SCREENSHOTS.

Prints one line per step; exits non-zero at the first failed step (with a screenshot
`failure.png` of what the browser showed).
"""

import json
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE = os.environ["UI_BASE"]
TOKENS = json.loads(os.environ["UI_TOKENS"])
SHOTS = os.environ["UI_SCREENSHOTS"]
WIDTH, HEIGHT = 1366, 900


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--user-data-dir=" + tempfile.mkdtemp(prefix="tessera-ui-chromium-"),
        f"--window-size={WIDTH},{HEIGHT}",
    ]:
        options.add_argument(flag)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    d.set_window_size(WIDTH, HEIGHT)
    d.set_page_load_timeout(60)
    return d


def step(text):
    print("step:", text, flush=True)


def wait(d, condition, what, seconds=20):
    try:
        return WebDriverWait(d, seconds).until(condition)
    except Exception:
        raise AssertionError(f"timed out waiting for {what} (at {d.current_url})")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def go(d, path):
    d.get(BASE + path)


def text(d):
    return d.find_element(By.TAG_NAME, "body").text


def no_overflow(d, name):
    """No horizontal scrolling at 1366 px: the page is no wider than the window."""
    scroll = d.execute_script("return document.scrollingElement.scrollWidth")
    inner = d.execute_script("return window.innerWidth")
    check(scroll <= inner, f"{name}: the page is {scroll} px wide in a {inner} px window")


def shot(d, name):
    """A screenshot of the whole page (the window made as tall as the page, then back)."""
    height = d.execute_script("return document.scrollingElement.scrollHeight")
    d.set_window_size(WIDTH, max(HEIGHT, min(height + 140, 6000)))
    d.save_screenshot(os.path.join(SHOTS, name + ".png"))
    d.set_window_size(WIDTH, HEIGHT)


def sign_in(d, who, next_path="/"):
    go(d, "/signin?next=" + urllib.parse.quote(next_path, safe="/"))
    box = wait(d, EC.presence_of_element_located((By.ID, "token")), "the token field")
    box.send_keys(TOKENS[who])
    d.find_element(By.CSS_SELECTOR, "section.signin button[type=submit]").click()
    wait(d, lambda d: "/signin" not in d.current_url, f"{who} to be signed in")
    check(who in d.find_element(By.CSS_SELECTOR, ".who").text, f"the header names {who}")


def sign_out(d):
    d.find_element(By.CSS_SELECTOR, "form.signout button").click()
    wait(d, lambda d: "/signin" in d.current_url, "the sign-in page after signing out")


def choose_purpose(d, purpose):
    select = d.find_element(By.ID, "purpose-select")
    Select(select).select_by_value(purpose)
    wait(d, EC.staleness_of(select), "the page to reload with the purpose")
    chosen = Select(d.find_element(By.ID, "purpose-select")).first_selected_option
    check(chosen.get_attribute("value") == purpose, f"the purpose is {purpose}")


def masked_columns(d):
    """The sample's masked columns on a product page (their header cells)."""
    return [
        th.text.split("\n")[0]
        for th in d.find_elements(By.CSS_SELECTOR, "table.sample th")
        if "masked:" in th.text
    ]


def main():
    os.makedirs(SHOTS, exist_ok=True)
    d = browser()
    try:
        run(d)
    except Exception:
        d.save_screenshot(os.path.join(SHOTS, "failure.png"))
        print("failed at", d.current_url, file=sys.stderr)
        print(text(d)[:3000], file=sys.stderr)
        raise
    finally:
        d.quit()
    print("ui: every step passed", flush=True)


def run(d):
    step("a page without a session redirects to sign-in, and comes back after")
    go(d, "/products/shop/customers")
    wait(d, lambda d: "/signin" in d.current_url, "the redirect to /signin")
    check("next=%2Fproducts%2Fshop%2Fcustomers" in d.current_url or "next=/products/shop/customers" in d.current_url,
          f"the sign-in page knows where to go back: {d.current_url}")
    no_overflow(d, "sign in")
    shot(d, "signin")

    step("a bad token is refused on the form")
    d.find_element(By.ID, "token").send_keys("tsr_not-a-real-token")
    d.find_element(By.CSS_SELECTOR, "section.signin button[type=submit]").click()
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "section.signin .alert")), "the refusal")
    check("not valid" in text(d), "the refusal says the token is not valid")

    step("ana signs in and lands on the page she asked for")
    sign_in(d, "ana", "/products/shop/customers")
    check(d.current_url.endswith("/products/shop/customers"), f"back on the product: {d.current_url}")
    cookies = {c["name"]: c for c in d.get_cookies()}
    check(cookies["tessera_token"]["httpOnly"], "the session cookie is HttpOnly")
    check(cookies["tessera_token"].get("sameSite") == "Strict", "the session cookie is SameSite=Strict")

    step("home: domains, products, publishes, checks")
    go(d, "/")
    body = text(d)
    for expected in ["Domains", "Products", "Recent publishes", "Failing checks", "shop", "web", "analytics"]:
        check(expected in body, f"home shows {expected!r}")
    no_overflow(d, "home")
    shot(d, "home")

    step("the purpose selector")
    choose_purpose(d, "analytics")

    step("search as you type")
    go(d, "/search")
    box = d.find_element(By.ID, "q")
    box.send_keys("custom")
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#results a[href='/products/shop/customers']"),
         "shop/customers among the results without submitting")
    wait(d, lambda d: "q=custom" in d.current_url, "the address to follow the search")
    no_overflow(d, "search")
    shot(d, "search")

    step("the filters narrow it (domain web: no customers product)")
    Select(d.find_element(By.ID, "domain")).select_by_value("web")
    wait(d, lambda d: not d.find_elements(By.CSS_SELECTOR, "#results a[href='/products/shop/customers']"),
         "the domain filter to apply")
    Select(d.find_element(By.ID, "domain")).select_by_value("")
    link = wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, "#results a[href='/products/shop/customers']")),
                "the result again")

    step("open the product: schema, lineage, checks, a masked sample, snippets")
    link.click()
    wait(d, lambda d: d.current_url.endswith("/products/shop/customers"), "the product page")
    body = text(d)
    for expected in ["Lineage", "Quality checks", "Schema", "Sample — as you see it", "How to connect",
                     "signup_date", "quasi_identifier", "psql", "curl"]:
        check(expected in body, f"the product page shows {expected!r}")
    check(d.find_elements(By.CSS_SELECTOR, "svg.lineage g.node"), "the lineage graph is drawn")
    masked = masked_columns(d)
    check("name" in masked and "email" in masked, f"ana sees name and email masked: {masked}")
    check(d.find_elements(By.CSS_SELECTOR, "table.sample td.masked"), "masked cells are marked")
    snippet = d.find_element(By.CSS_SELECTOR, ".snippets").text
    check("shop.customers" in snippet and "tessera.purpose=analytics" in snippet, "snippets name the table and purpose")
    no_overflow(d, "product")
    shot(d, "product")

    step("the domain page")
    d.find_element(By.CSS_SELECTOR, ".crumbs a[href='/domains/shop']").click()
    wait(d, lambda d: d.current_url.endswith("/domains/shop"), "the domain page")
    body = text(d)
    check("Products and health" in body and "customers" in body and "sam" in body, "the domain lists products and owners")
    no_overflow(d, "domain")
    shot(d, "domain")

    step("the audit page is refused to ana")
    go(d, "/audit")
    body = text(d)
    check("403" in body and "Not permitted" in body, "ana gets a 403 page")
    check("read the audit log" in body, "the refusal says what was refused")
    no_overflow(d, "audit refused")
    shot(d, "audit-refused")

    step("a 404 page")
    go(d, "/no/such/page")
    check("404" in text(d), "a 404 page")
    no_overflow(d, "404")

    step("nobody (no role) is refused the sample, with the deciding policy")
    sign_out(d)
    sign_in(d, "nobody", "/search")
    choose_purpose(d, "analytics")
    d.find_element(By.ID, "q").send_keys("orders")
    wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, "#results a[href='/products/shop/orders']")),
         "shop/orders among the results").click()
    wait(d, lambda d: d.current_url.endswith("/products/shop/orders"), "the orders product page")
    refusal = d.find_element(By.CSS_SELECTOR, "#port-orders .refusal").text
    check("Refused by policy" in refusal and "nobody" in refusal, f"the refusal names who and why: {refusal}")
    check(d.find_element(By.CSS_SELECTOR, "#port-orders details.request").get_attribute("open") is not None,
          "the request form is open next to a refusal")
    check(query_status("nobody", "shop.orders") == 403, "the API refuses nobody too")
    shot(d, "product-refused")

    step("nobody requests access to shop.orders for analytics")
    request_access(d, "orders")

    step("sam, the shop domain's owner, approves")
    sign_out(d)
    sign_in(d, "sam", "/access")
    approve(d)

    step("nobody's sample now works, the confidential column masked; so does a query through the API")
    sign_out(d)
    sign_in(d, "nobody", "/products/shop/orders")
    choose_purpose(d, "analytics")
    check(not d.find_elements(By.CSS_SELECTOR, "#port-orders .refusal"), "no refusal after the approval")
    check(d.find_elements(By.CSS_SELECTOR, "#port-orders table.sample tbody tr"), "sample rows")
    masked = masked_columns(d)
    check(masked == ["amount"], f"the grant shows the confidential column masked: {masked}")
    check(query_status("nobody", "shop.orders") == 200, "the API answers nobody's query")
    no_overflow(d, "product after approval")
    shot(d, "product-granted")
    go(d, "/access")
    check("approved" in text(d), "nobody sees the request approved")
    no_overflow(d, "access (consumer)")
    shot(d, "access-approved")

    step("dora (data protection) reads the audit log")
    sign_out(d)
    sign_in(d, "dora", "/audit")
    choose_purpose(d, "compliance")
    body = text(d)
    check("Audit log" in body and "Records" in body, "dora sees the audit log")
    check("ana" in body, "ana's reads are in it")
    principal = d.find_element(By.ID, "a-principal")
    principal.send_keys("ana")
    principal.submit()
    wait(d, lambda d: "principal=ana" in d.current_url, "the principal filter")
    rows = d.find_elements(By.CSS_SELECTOR, "table.audit tbody tr")
    check(rows, "records of ana")
    check(all("ana" in r.text for r in rows), "only ana's records")
    no_overflow(d, "audit")
    shot(d, "audit")

    step("who read this subject's data")
    subject = d.find_element(By.ID, "a-subject")
    subject.send_keys("customer=1")
    subject.submit()
    wait(d, lambda d: "subject=" in d.current_url, "the subject view")
    body = text(d)
    check("Reads of ports holding customer" in body and "shop.customers" in body, "the subject's ports")
    check(d.find_elements(By.CSS_SELECTOR, "table.audit tbody tr"), "reads listed")
    no_overflow(d, "audit subject")
    shot(d, "audit-subject")



def query_status(who, table):
    """The HTTP status of a query of `table` through the API, as `who`."""
    body = json.dumps({"sql": f"SELECT * FROM {table} LIMIT 1"}).encode()
    request = urllib.request.Request(BASE + "/api/v1/query", data=body, headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + TOKENS[who],
        "Tessera-Purpose": "analytics"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def request_access(d, port):
    Select(d.find_element(By.ID, f"port-{port}-purpose")).select_by_value("analytics")
    d.find_element(By.ID, f"port-{port}-why").send_keys("Revenue by customer for the quarterly review")
    d.find_element(By.CSS_SELECTOR, f"#port-{port} details.request button[type=submit]").click()
    wait(d, lambda d: "/access" in d.current_url, "the access page after the request")
    body = text(d)
    check(f"shop.{port}" in body and "requested" in body, f"the request is listed as requested: {body}")
    no_overflow(d, "access (consumer)")
    shot(d, "access-requested")


def approve(d):
    body = text(d)
    check("nobody" in body and "Revenue by customer" in body, f"sam sees nobody's request with its justification: {body}")
    no_overflow(d, "access (owner)")
    shot(d, "access")
    d.find_element(By.CSS_SELECTOR, "form.decide input[name=expires]").send_keys("30d")
    d.find_element(By.CSS_SELECTOR, "form.decide button[value=approve]").click()
    wait(d, lambda d: "Approved:" in text(d), "the approval")
    check(not d.find_elements(By.CSS_SELECTOR, "form.decide button[value=approve]"), "nothing left to approve")


if __name__ == "__main__":
    main()
