import { render } from "preact";

import { App } from "./App";
import { Auth, type Config } from "./auth";
import "./style.css";

// Settings at run time (/config.json beside index.html), so one build serves every deployment.
async function start() {
  const root = document.getElementById("app")!;
  const config = (await (await fetch(new URL("config.json", location.href))).json()) as Config;
  const auth = new Auth(config);
  let error: string | undefined;
  try {
    await auth.completeSignIn();
  } catch (failed) {
    error = (failed as Error).message;
  }
  render(<App auth={auth} config={config} signInError={error} />, root);
}

void start();
