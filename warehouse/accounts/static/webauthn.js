// Security keys (WebAuthn) need the browser's credentials API, which a plain form cannot
// reach. This script fills a hidden field with the key's answer and submits the form; the
// server does all the checking. Forms marked data-webauthn="register" or "authenticate"
// carry their options as JSON in data-webauthn-options (an attribute, so that the page's
// escaping covers it; a <script> block would not decode entities).
(function () {
  "use strict";

  function fromBase64url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "=".repeat((4 - (base64.length % 4)) % 4);
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeDescriptors(list) {
    (list || []).forEach(function (descriptor) {
      descriptor.id = fromBase64url(descriptor.id);
    });
  }

  function creationOptions(json) {
    var options = JSON.parse(json);
    options.challenge = fromBase64url(options.challenge);
    options.user.id = fromBase64url(options.user.id);
    decodeDescriptors(options.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    var options = JSON.parse(json);
    options.challenge = fromBase64url(options.challenge);
    decodeDescriptors(options.allowCredentials);
    return options;
  }

  function credentialAsJSON(credential) {
    var response = credential.response;
    var answer = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toBase64url(response.clientDataJSON) },
    };
    if (credential.authenticatorAttachment) {
      answer.authenticatorAttachment = credential.authenticatorAttachment;
    }
    if (response.attestationObject) {
      answer.response.attestationObject = toBase64url(response.attestationObject);
      if (response.getTransports) answer.response.transports = response.getTransports();
    }
    if (response.authenticatorData) {
      answer.response.authenticatorData = toBase64url(response.authenticatorData);
      answer.response.signature = toBase64url(response.signature);
      if (response.userHandle) answer.response.userHandle = toBase64url(response.userHandle);
    }
    return answer;
  }

  function setUp(form) {
    var status = form.querySelector("[data-webauthn-status]");
    var optionsJSON = form.getAttribute("data-webauthn-options");
    form.hidden = false;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      status.textContent = "This browser cannot use security keys.";
      form.querySelector("button").disabled = true;
      return;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      status.textContent = "Follow your browser's prompt: insert or touch your security key.";
      var ask =
        form.getAttribute("data-webauthn") === "register"
          ? navigator.credentials.create({ publicKey: creationOptions(optionsJSON) })
          : navigator.credentials.get({ publicKey: requestOptions(optionsJSON) });
      ask.then(
        function (credential) {
          form.elements.credential.value = JSON.stringify(credentialAsJSON(credential));
          status.textContent = "Checking…";
          form.submit();
        },
        function (error) {
          status.textContent = "The security key did not answer (" + error.name + "). Try again.";
        }
      );
    });
  }

  document.querySelectorAll("form[data-webauthn]").forEach(setUp);
})();
