-- life_stages.retired: age >= 60 OR occupation = 'retired' OR pension_months > 0
SELECT
  COALESCE(
    (
      "t0"."age" >= 60
    )
    OR (
      "t0"."occupation" = 'retired'
    )
    OR (
      "t0"."pension_months" > 0
    ),
    FALSE
  ) AS "hit"
FROM "features" AS "t0";

-- life_stages.pre_retirement: age >= 50
SELECT
  COALESCE("t0"."age" >= 50, FALSE) AS "hit"
FROM "features" AS "t0";

-- life_stages.young_single: age < 30 AND coalesce(dependants, 0) = 0
SELECT
  COALESCE((
    "t0"."age" < 30
  ) AND (
    COALESCE("t0"."dependants", 0) = 0
  ), FALSE) AS "hit"
FROM "features" AS "t0";

-- life_stages.family_building: age < 40 OR (age < 45 AND coalesce(dependants, 0) > 0)
SELECT
  COALESCE(
    (
      "t0"."age" < 40
    )
    OR (
      (
        "t0"."age" < 45
      ) AND (
        COALESCE("t0"."dependants", 0) > 0
      )
    ),
    FALSE
  ) AS "hit"
FROM "features" AS "t0";

-- lifecycle.onboarding: tenure_days <= 90
SELECT
  COALESCE("t0"."tenure_days" <= 90, FALSE) AS "hit"
FROM "features" AS "t0";

-- lifecycle.dormant: days_since_last_txn >= 180 OR (txn_count = 0 AND tenure_days > 180)
SELECT
  COALESCE(
    (
      "t0"."days_since_last_txn" >= 180
    )
    OR (
      (
        "t0"."txn_count" = 0
      ) AND (
        "t0"."tenure_days" > 180
      )
    ),
    FALSE
  ) AS "hit"
FROM "features" AS "t0";

-- lifecycle.won_back: prev_dormant AND txn_count > 0
SELECT
  COALESCE("t0"."prev_dormant" AND (
    "t0"."txn_count" > 0
  ), FALSE) AS "hit"
FROM "features" AS "t0";

-- lifecycle.declining: aum_growth <= -0.3
SELECT
  COALESCE("t0"."aum_growth" <= -(
    0.3
  ), FALSE) AS "hit"
FROM "features" AS "t0";

-- lifecycle.growing: aum_growth >= 0.1
SELECT
  COALESCE("t0"."aum_growth" >= 0.1, FALSE) AS "hit"
FROM "features" AS "t0";

-- segments.silver: age >= 60 OR pension_months > 0
SELECT
  COALESCE((
    "t0"."age" >= 60
  ) OR (
    "t0"."pension_months" > 0
  ), FALSE) AS "hit"
FROM "classified" AS "t0";

-- segments.social_security: list_contains(tags, '社保卡') OR pension_months > 0
SELECT
  COALESCE(
    COALESCE(ARRAY_CONTAINS("t0"."tags", '社保卡'), FALSE)
    OR (
      "t0"."pension_months" > 0
    ),
    FALSE
  ) AS "hit"
FROM "classified" AS "t0";

-- segments.payroll: salary_months >= 2
SELECT
  COALESCE("t0"."salary_months" >= 2, FALSE) AS "hit"
FROM "classified" AS "t0";

-- segments.oil_trade: industry = 'oil_trade'
SELECT
  COALESCE("t0"."industry" = 'oil_trade', FALSE) AS "hit"
FROM "classified" AS "t0";

-- segments.civil_service: industry IN ('government', 'public_institution') OR occupation = 'civil_servant'
SELECT
  COALESCE(
    "t0"."industry" IN ('government', 'public_institution')
    OR (
      "t0"."occupation" = 'civil_servant'
    ),
    FALSE
  ) AS "hit"
FROM "classified" AS "t0";

-- segments.merchant: occupation IN ('merchant', 'self_employed') OR industry = 'trade'
SELECT
  COALESCE(
    "t0"."occupation" IN ('merchant', 'self_employed')
    OR (
      "t0"."industry" = 'trade'
    ),
    FALSE
  ) AS "hit"
FROM "classified" AS "t0";

-- segments.teacher: occupation = 'teacher' OR industry = 'education'
SELECT
  COALESCE((
    "t0"."occupation" = 'teacher'
  ) OR (
    "t0"."industry" = 'education'
  ), FALSE) AS "hit"
FROM "classified" AS "t0";

-- segments.talent: talent_employer OR occupation IN ('doctor', 'researcher', 'executive')
SELECT
  COALESCE(
    "t0"."talent_employer"
    OR "t0"."occupation" IN ('doctor', 'researcher', 'executive'),
    FALSE
  ) AS "hit"
FROM "classified" AS "t0";

-- segments.new_citizen: hukou_local = FALSE
SELECT
  COALESCE("t0"."hukou_local" = FALSE, FALSE) AS "hit"
FROM "classified" AS "t0";

-- segments.young: age BETWEEN 18 AND 30
SELECT
  COALESCE("t0"."age" BETWEEN 18 AND 30, FALSE) AS "hit"
FROM "classified" AS "t0";

-- segments.women: gender = 'F'
SELECT
  COALESCE("t0"."gender" = 'F', FALSE) AS "hit"
FROM "classified" AS "t0";

-- segments.fund_holder: fund_balance > 0
SELECT
  COALESCE("t0"."fund_balance" > 0, FALSE) AS "hit"
FROM "classified" AS "t0";

-- segments.vip_wealth: tier IN ('wealth', 'private', 'private_central') AND wealth_balance > 0
SELECT
  COALESCE(
    "t0"."tier" IN ('wealth', 'private', 'private_central')
    AND (
      "t0"."wealth_balance" > 0
    ),
    FALSE
  ) AS "hit"
FROM "classified" AS "t0";

-- segments.asset_upgrade: near_threshold
SELECT
  COALESCE("t0"."near_threshold", FALSE) AS "hit"
FROM "classified" AS "t0";

-- segments.outside_money: same_name_out >= 50000 OR same_name_out > aum
SELECT
  COALESCE(
    (
      "t0"."same_name_out" >= 50000
    ) OR (
      "t0"."same_name_out" > "t0"."aum"
    ),
    FALSE
  ) AS "hit"
FROM "classified" AS "t0";

-- segments.low_carbon: green_points >= 50
SELECT
  COALESCE("t0"."green_points" >= 50, FALSE) AS "hit"
FROM "classified" AS "t0";

-- segments.dormant: lifecycle = 'dormant'
SELECT
  COALESCE("t0"."lifecycle" = 'dormant', FALSE) AS "hit"
FROM "classified" AS "t0";

-- segments.family_trust_prospect: tier IN ('private', 'private_central')
SELECT
  COALESCE("t0"."tier" IN ('private', 'private_central'), FALSE) AS "hit"
FROM "classified" AS "t0";

-- carbon.bus: type = 'card_spend' AND merchant_category = '4131'
SELECT
  COALESCE(
    (
      "t0"."type" = 'card_spend'
    ) AND (
      "t0"."merchant_category" = '4131'
    ),
    FALSE
  ) AS "hit"
FROM "transaction" AS "t0";

-- carbon.metro: type = 'card_spend' AND merchant_category = '4111'
SELECT
  COALESCE(
    (
      "t0"."type" = 'card_spend'
    ) AND (
      "t0"."merchant_category" = '4111'
    ),
    FALSE
  ) AS "hit"
FROM "transaction" AS "t0";

-- carbon.high_speed_rail: type = 'card_spend' AND merchant_category = '4112'
SELECT
  COALESCE(
    (
      "t0"."type" = 'card_spend'
    ) AND (
      "t0"."merchant_category" = '4112'
    ),
    FALSE
  ) AS "hit"
FROM "transaction" AS "t0";

-- carbon.shared_bike: type = 'card_spend' AND merchant_category = '4789'
SELECT
  COALESCE(
    (
      "t0"."type" = 'card_spend'
    ) AND (
      "t0"."merchant_category" = '4789'
    ),
    FALSE
  ) AS "hit"
FROM "transaction" AS "t0";

-- carbon.ev_charging: type = 'card_spend' AND merchant_category = '5552'
SELECT
  COALESCE(
    (
      "t0"."type" = 'card_spend'
    ) AND (
      "t0"."merchant_category" = '5552'
    ),
    FALSE
  ) AS "hit"
FROM "transaction" AS "t0";

-- carbon.etc_toll: type = 'card_spend' AND merchant_category = '4784'
SELECT
  COALESCE(
    (
      "t0"."type" = 'card_spend'
    ) AND (
      "t0"."merchant_category" = '4784'
    ),
    FALSE
  ) AS "hit"
FROM "transaction" AS "t0";

-- carbon.second_hand: type = 'card_spend' AND merchant_category = '5931'
SELECT
  COALESCE(
    (
      "t0"."type" = 'card_spend'
    ) AND (
      "t0"."merchant_category" = '5931'
    ),
    FALSE
  ) AS "hit"
FROM "transaction" AS "t0";

-- carbon.online_shopping: type = 'card_spend' AND channel = 'online'
SELECT
  COALESCE((
    "t0"."type" = 'card_spend'
  ) AND (
    "t0"."channel" = 'online'
  ), FALSE) AS "hit"
FROM "transaction" AS "t0";

-- carbon.qr_payment: type = 'card_spend' AND channel = 'unionpay_qr'
SELECT
  COALESCE((
    "t0"."type" = 'card_spend'
  ) AND (
    "t0"."channel" = 'unionpay_qr'
  ), FALSE) AS "hit"
FROM "transaction" AS "t0";

-- carbon.utility_online: type = 'bill_payment' AND merchant_category = '4900' AND channel IN ('mobile_app', 'online')
SELECT
  COALESCE(
    (
      "t0"."type" = 'bill_payment'
    )
    AND (
      "t0"."merchant_category" = '4900'
    )
    AND "t0"."channel" IN ('mobile_app', 'online'),
    FALSE
  ) AS "hit"
FROM "transaction" AS "t0";

-- carbon.telecom_online: type = 'bill_payment' AND merchant_category = '4814' AND channel IN ('mobile_app', 'online')
SELECT
  COALESCE(
    (
      "t0"."type" = 'bill_payment'
    )
    AND (
      "t0"."merchant_category" = '4814'
    )
    AND "t0"."channel" IN ('mobile_app', 'online'),
    FALSE
  ) AS "hit"
FROM "transaction" AS "t0";

-- carbon.government_online: type = 'bill_payment' AND merchant_category IN ('9311', '9399') AND channel IN ('mobile_app', 'online')
SELECT
  COALESCE(
    (
      "t0"."type" = 'bill_payment'
    )
    AND "t0"."merchant_category" IN ('9311', '9399')
    AND "t0"."channel" IN ('mobile_app', 'online'),
    FALSE
  ) AS "hit"
FROM "transaction" AS "t0";

-- carbon.card_repayment_online: type = 'card_repayment' AND channel IN ('mobile_app', 'online')
SELECT
  COALESCE(
    (
      "t0"."type" = 'card_repayment'
    )
    AND "t0"."channel" IN ('mobile_app', 'online'),
    FALSE
  ) AS "hit"
FROM "transaction" AS "t0";

-- carbon.mobile_transfer: type IN ('transfer_out', 'transfer_in') AND channel = 'mobile_app'
SELECT
  COALESCE(
    "t0"."type" IN ('transfer_out', 'transfer_in')
    AND (
      "t0"."channel" = 'mobile_app'
    ),
    FALSE
  ) AS "hit"
FROM "transaction" AS "t0";

-- carbon.mobile_purchase: type = 'purchase' AND channel = 'mobile_app'
SELECT
  COALESCE((
    "t0"."type" = 'purchase'
  ) AND (
    "t0"."channel" = 'mobile_app'
  ), FALSE) AS "hit"
FROM "transaction" AS "t0";

-- triggers.maturity_7d: maturing_7d_amount > 0
SELECT
  COALESCE("t0"."maturing_7d_amount" > 0, FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.same_name_outflow: same_name_out_7d >= 50000 OR same_name_out >= 200000
SELECT
  COALESCE(
    (
      "t0"."same_name_out_7d" >= 50000
    ) OR (
      "t0"."same_name_out" >= 200000
    ),
    FALSE
  ) AS "hit"
FROM "trigger" AS "t0";

-- triggers.payday_ahead: days_to_payday BETWEEN 0 AND 3 AND salary_months >= 2
SELECT
  COALESCE("t0"."days_to_payday" BETWEEN 0 AND 3 AND (
    "t0"."salary_months" >= 2
  ), FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.bonus_day_ahead: days_to_bonus BETWEEN 0 AND 2 AND salary_months >= 1
SELECT
  COALESCE("t0"."days_to_bonus" BETWEEN 0 AND 2 AND (
    "t0"."salary_months" >= 1
  ), FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.birthday: birthday_this_month AND days_to_birthday BETWEEN 0 AND 7
SELECT
  COALESCE("t0"."birthday_this_month" AND "t0"."days_to_birthday" BETWEEN 0 AND 7, FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.in_branch: event_type = 'check_in'
SELECT
  COALESCE("t0"."event_type" = 'check_in', FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.visit_booked: event_type = 'visit_booked'
SELECT
  COALESCE("t0"."event_type" = 'visit_booked', FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.tier_up: tier_move = 'up'
SELECT
  COALESCE("t0"."tier_move" = 'up', FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.tier_down: tier_move = 'down'
SELECT
  COALESCE("t0"."tier_move" = 'down', FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.near_threshold: near_threshold AND tier_move <> 'down'
SELECT
  COALESCE("t0"."near_threshold" AND (
    "t0"."tier_move" <> 'down'
  ), FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.aum_decline: aum_growth <= -0.3 AND aum_month_end >= 10000
SELECT
  COALESCE(
    (
      "t0"."aum_growth" <= -(
        0.3
      )
    ) AND (
      "t0"."aum_month_end" >= 10000
    ),
    FALSE
  ) AS "hit"
FROM "trigger" AS "t0";

-- triggers.market_drawdown: fund_return <= -0.1
SELECT
  COALESCE("t0"."fund_return" <= -(
    0.1
  ), FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.risk_expiring: risk_expires_in_days BETWEEN 0 AND 30
SELECT
  COALESCE("t0"."risk_expires_in_days" BETWEEN 0 AND 30, FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.risk_expired_with_holdings: risk_level IS NOT NULL AND NOT risk_valid AND fund_balance + wealth_balance + pension_balance > 0
SELECT
  COALESCE(
    (
      "t0"."risk_level" IS NOT NULL
    )
    AND NOT (
      "t0"."risk_valid"
    )
    AND (
      (
        "t0"."fund_balance" + "t0"."wealth_balance" + "t0"."pension_balance"
      ) > 0
    ),
    FALSE
  ) AS "hit"
FROM "trigger" AS "t0";

-- triggers.dormant: lifecycle = 'dormant' AND aum_month_end >= 1000
SELECT
  COALESCE((
    "t0"."lifecycle" = 'dormant'
  ) AND (
    "t0"."aum_month_end" >= 1000
  ), FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.repeated_views: event_type = 'product_view' AND event_views_7d >= 3
SELECT
  COALESCE(
    (
      "t0"."event_type" = 'product_view'
    ) AND (
      "t0"."event_views_7d" >= 3
    ),
    FALSE
  ) AS "hit"
FROM "trigger" AS "t0";

-- triggers.health_drop: health_change <= -10
SELECT
  COALESCE("t0"."health_change" <= -(
    10
  ), FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.silver_large_transfer: age >= 60 AND large_transfer_7d >= 20000
SELECT
  COALESCE((
    "t0"."age" >= 60
  ) AND (
    "t0"."large_transfer_7d" >= 20000
  ), FALSE) AS "hit"
FROM "trigger" AS "t0";

-- triggers.complaint: event_type = 'complaint'
SELECT
  COALESCE("t0"."event_type" = 'complaint', FALSE) AS "hit"
FROM "trigger" AS "t0";
