// Typeset math when the site builds: stdin is a JSON list of [tex, display] pairs, stdout the
// JSON list of KaTeX's HTML for them (HTML + MathML), so pages need KaTeX's CSS and fonts only.
// A formula KaTeX cannot parse fails the build, naming the formula.
const path = require("path");
const katex = require(path.join(__dirname, "..", "node_modules", "katex"));

const macros = {};                    // shared across formulas, like a document's preamble
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const out = [];
  for (const [tex, display] of JSON.parse(input)) {
    try {
      out.push(katex.renderToString(tex, {
        displayMode: display, throwOnError: true, output: "htmlAndMathml", macros, strict: "error",
      }));
    } catch (error) {
      process.stderr.write(`KaTeX cannot typeset ${JSON.stringify(tex)}: ${error.message}\n`);
      process.exit(1);
    }
  }
  process.stdout.write(JSON.stringify(out));
});
