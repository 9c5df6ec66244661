import type { Sandbox } from './index.ts'

/** The variables examples/hub.config.yaml references, pointing at a running sandbox. */
export function exampleEnv (sandbox: Sandbox): Record<string, string> {
  return {
    SHOP_URL: sandbox.shop.url,
    SHOP_TOKEN: 'shop-token',
    SHOP_WEBHOOK_KEY: 'shop-webhook-key-0123456789',
    // A fixed Standard Webhooks secret: 32 bytes, base64.
    SHOP_WEBHOOK_SECRET: 'whsec_' + Buffer.alloc(32, 7).toString('base64'),
    CRM_URL: sandbox.crm.url,
    CRM_API_KEY: 'crm-key',
    ERP_URL: sandbox.erp.url,
    ERP_USER: 'erp',
    ERP_PASSWORD: 'erp-pass'
  }
}
