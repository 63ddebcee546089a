// A protected part of the app: needs the API key (the global ApiKeyGuard), unlike the webhook route.
import { Controller, Get, Inject, Param } from '@nestjs/common'
import { AccessService } from './access.service.js'
import { Public } from './auth.js'

@Controller()
export class AccountController {
  constructor(@Inject(AccessService) private readonly access: AccessService) {}

  @Get('customers/:email')
  customer(@Param('email') email: string) {
    return { products: this.access.productsOf(email), membership: this.access.membershipOf(email) ?? null }
  }

  @Public()
  @Get('health')
  health() {
    return { ok: true }
  }
}
