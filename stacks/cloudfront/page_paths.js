// CloudFront Function (viewer request) of the web app's distribution (stacks/web_stack.py).
// A page's address has no extension ("/inbox"); its object in the bucket does ("inbox.html"), and "/" is
// index.html. A path whose last part has an extension (assets, config.json) is asked for as it is.
// The query string is left alone: the sign-in's "?code=&state=" must reach the page.
function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri === "/") {
    request.uri = "/index.html";
    return request;
  }
  if (uri.charAt(uri.length - 1) === "/") uri = uri.slice(0, -1); // "/inbox/" is "/inbox"
  var last = uri.slice(uri.lastIndexOf("/") + 1);
  request.uri = last.indexOf(".") === -1 ? uri + ".html" : uri;
  return request;
}
