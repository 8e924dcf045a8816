// What changes between the local stack and a deployment. Deployed, replace this one file
// (README, "The web app"): everything else is the same static files.
export default {
  // Where the API is. "" means the app's own origin: the local stack serves both, and deployed
  // CloudFront sends /v1/* to API Gateway from the same domain, so no CORS is needed.
  apiBase: "",

  // "local": pick who to be; the local stack mints the token (POST /_local/token, local only).
  // "cognito": the Cognito hosted UI, authorization code flow with PKCE. For example:
  //   auth: { provider: "cognito", domain: "https://coins.auth.eu-west-1.amazoncognito.com",
  //           clientId: "1a2b3c...", scopes: ["openid", "email"] },
  // The redirect URI is the app's own address (register it as an allowed callback URL).
  auth: { provider: "local" },

  // The payout policy the API enforces (MIN_WITHDRAWAL_MINOR, DAILY_WITHDRAWAL_CAP_MINOR in the
  // functions' environment), shown to creators before they ask. Minor units of `currency`.
  withdrawals: { currency: "usd", minimum: 1000, dailyCap: 100000, maturityDays: 7 },

  // A gift costing more coins than this asks "Send ... for N coins?" first (Universe is 34,999):
  // one key press or tap never spends that much by accident.
  confirmGiftsOver: 1000,

  // How often the app asks again while something happens elsewhere (webhooks, the gift feed).
  pollMs: { feed: 1000, wallet: 5000, earnings: 3000, checkout: 1000 },
};
